import { Gauge, type Registry } from 'prom-client';
import type { ChannelOccupancy, Engine } from '@switchboard/engine';
import { apiNameOf } from './channels.js';

/** The products a channel belongs to: the only label values (never one series per channel). */
export const CHANNEL_PRODUCTS = ['analytics', 'availability', 'errors', 'logs', 'jobs'] as const;

/** Occupancy is read from Redis at most this often, whatever the scrape rate. */
const READ_EVERY_MS = 5_000;

const productOf = (channel: string): string | undefined => apiNameOf(channel)?.split(':')[0];

/**
 * Cluster-wide occupancy by product, read from the presence data when scraped (cached for
 * READ_EVERY_MS): `switchboard_channel_connections`, `switchboard_channel_users` (a user on two
 * channels of a product counts twice) and `switchboard_channels_occupied`, labelled by product only,
 * so their cardinality is bounded whatever channels clients open. Every gateway reports the same
 * cluster-wide figures: aggregate them with max, not sum.
 */
export function registerChannelGauges(registry: Registry, engine: Engine): void {
  let cached: { at: number; channels: Promise<ChannelOccupancy[]> } | undefined;
  const occupied = (): Promise<ChannelOccupancy[]> => {
    const now = Date.now();
    if (cached === undefined || now - cached.at >= READ_EVERY_MS) cached = { at: now, channels: engine.presence.channels().catch(() => []) };
    return cached.channels;
  };
  const gauge = (name: string, help: string, value: (channel: ChannelOccupancy) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['product'] as const,
      registers: [registry],
      async collect() {
        const totals = new Map<string, number>(CHANNEL_PRODUCTS.map((product) => [product, 0]));
        for (const channel of await occupied()) {
          const product = productOf(channel.channel);
          if (product !== undefined) totals.set(product, (totals.get(product) ?? 0) + value(channel));
        }
        for (const [product, total] of totals) this.set({ product }, total);
      },
    });
  gauge('switchboard_channel_connections', 'Connections on the channels of each product, cluster-wide (from presence).', (c) => c.connections);
  gauge('switchboard_channel_users', 'Distinct users per channel, summed over the channels of each product, cluster-wide (from presence).', (c) => c.users);
  gauge('switchboard_channels_occupied', 'Channels of each product with at least one connection, cluster-wide (from presence).', () => 1);
}
