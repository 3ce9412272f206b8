import { Gauge, type Registry } from 'prom-client';
import type { ChannelOccupancy, Engine } from '@switchboard/engine';
import { apiNameOf } from './channels.js';

/** The products a channel belongs to: the only label values (never one series per channel). */
export const CHANNEL_PRODUCTS = ['analytics', 'availability', 'errors', 'logs', 'jobs'] as const;

/** Occupancy is read from the presence data this often, in the background (a scrape does no I/O). */
export const CHANNEL_GAUGES_EVERY_MS = 5_000;

const productOf = (channel: string): string | undefined => apiNameOf(channel)?.split(':')[0];

/**
 * Cluster-wide occupancy by product, read from the presence data every CHANNEL_GAUGES_EVERY_MS:
 * `switchboard_channel_connections`, `switchboard_channel_users` (a user on two channels of a
 * product counts twice) and `switchboard_channels_occupied`, labelled by product only, so their
 * cardinality is bounded whatever channels clients open. Every gateway reports the same
 * cluster-wide figures: aggregate them with max, not sum. Returns a function that stops the reads.
 */
export function registerChannelGauges(registry: Registry, engine: Engine): () => void {
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['product'] as const, registers: [registry] });
  const connections = gauge('switchboard_channel_connections', 'Connections on the channels of each product, cluster-wide (from presence).');
  const users = gauge('switchboard_channel_users', 'Distinct users per channel, summed over the channels of each product, cluster-wide (from presence).');
  const occupied = gauge('switchboard_channels_occupied', 'Channels of each product with at least one connection, cluster-wide (from presence).');

  const update = (channels: ChannelOccupancy[]): void => {
    const totals = new Map(CHANNEL_PRODUCTS.map((product) => [product as string, { connections: 0, users: 0, channels: 0 }]));
    for (const channel of channels) {
      const total = totals.get(productOf(channel.channel) ?? '');
      if (total === undefined) continue;
      total.connections += channel.connections;
      total.users += channel.users;
      total.channels += 1;
    }
    for (const [product, total] of totals) {
      connections.set({ product }, total.connections);
      users.set({ product }, total.users);
      occupied.set({ product }, total.channels);
    }
  };
  update([]);
  const read = (): void => {
    engine.presence.channels().then(update, () => undefined); // kept as they were until Redis answers again
  };
  read();
  const timer = setInterval(read, CHANNEL_GAUGES_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
