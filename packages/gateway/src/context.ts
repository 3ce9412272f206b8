import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Config } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { withTimeout } from '@switchboard/protocol';
import type { IngestKeys } from './auth/ingest-keys.js';
import type { OriginPolicy } from './http/cors.js';
import type { GatewayMetrics } from './metrics.js';
import type { AddressLimits } from './ws/address-limits.js';
import type { ClientAddresses } from './ws/client-address.js';
import type { ConnectionRegistry } from './ws/connections.js';
import type { SubscriptionMonitor } from './feed/subscription-monitor.js';
import type { GatewayPresence } from './presence/gateway-presence.js';

/** What every route and endpoint of a gateway shares. */
export interface GatewayContext {
  app: TemplatedApp;
  config: Config;
  engine: Engine;
  logger: Logger;
  registry: Registry;
  metrics: GatewayMetrics;
  origins: OriginPolicy;
  ingestKeys: IngestKeys;
  connections: ConnectionRegistry;
  /** Who a request's client is (the socket's peer, or X-Forwarded-For from trusted proxies). */
  clientAddresses: ClientAddresses;
  /** Per-address upgrade rate and connection cap. */
  addressLimits: AddressLimits;
  /** The pub/sub subscription's health and the channel feeds that fill its holes. */
  subscription: SubscriptionMonitor;
  /** Who is connected to each channel (registered, refreshed and left in batches). */
  presence: GatewayPresence;
  /** In-flight HTTP requests that shutdown waits for. */
  inflight: InflightRequests;
  isDraining(): boolean;
}

/** Counts requests in progress so a drain can wait for them. */
export class InflightRequests {
  private count = 0;
  private waiters: (() => void)[] = [];

  begin(): void {
    this.count += 1;
  }

  end(): void {
    this.count -= 1;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves when none are in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.waiters.push(resolve)), timeoutMs, undefined);
  }
}
