import type { Channels } from '@switchboard/engine';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics.js';
import type { ChannelFeed } from './channel-feed.js';

/** How often the subscription is checked with a round trip through pub/sub, and for how long. */
export const PROBE_INTERVAL_MS = 2_000;
export const PROBE_TIMEOUT_MS = 2_000;

/**
 * Watches this node's pub/sub subscription. A subscription can stall without dropping (a paused
 * or wedged connection): frames then stop arriving and nothing else notices. A periodic round
 * trip catches it; while it fails the node reports not ready (and the gauge 0), and once it
 * passes again, or the engine restored the subscription after a reconnect, every channel feed
 * reads what it missed from history.
 */
export class SubscriptionMonitor {
  /** Channel feeds of this node (each adds itself once started). */
  readonly feeds = new Set<ChannelFeed>();
  private healthy = true;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly stopRestored: () => void;

  constructor(
    private readonly engine: Channels,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly intervalMs = PROBE_INTERVAL_MS,
    private readonly timeoutMs = PROBE_TIMEOUT_MS,
  ) {
    metrics.subscriptionUp.set(1);
    this.stopRestored = engine.onSubscriptionsRestored(() => this.catchUp('restored'));
  }

  /** False while the last round trip failed. */
  get up(): boolean {
    return this.healthy;
  }

  start(): void {
    const tick = async () => {
      const ok = await this.engine.probeSubscription(this.timeoutMs).catch(() => false);
      if (this.stopped) return;
      this.metrics.subscriptionUp.set(ok ? 1 : 0);
      if (ok !== this.healthy) {
        this.healthy = ok;
        if (ok) {
          this.logger.info('pub/sub round trip passes again: filling what the subscription missed');
          this.catchUp('probe');
        } else {
          this.logger.warn({ timeoutMs: this.timeoutMs }, 'pub/sub round trip failed: not ready until it passes');
        }
      }
      this.timer = setTimeout(() => void tick(), this.intervalMs);
      this.timer.unref();
    };
    this.timer = setTimeout(() => void tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopRestored();
  }

  private catchUp(reason: 'restored' | 'probe'): void {
    for (const feed of this.feeds) feed.catchUp(reason);
  }
}
