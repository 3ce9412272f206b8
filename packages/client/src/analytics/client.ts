import type { Stats } from '@switchboard/protocol';
import { offsetOf, type JsonObject } from '../core/guards.js';
import { RawEndpointClient, type BaseEvents, type RawClientOptions } from '../core/raw-client.js';
import { endpointUrl } from '../core/websocket.js';
import { readAnalyticsEvent, readStats, readStringList, type ReceivedAnalyticsEvent } from './frames.js';

export const ANALYTICS_PATH = '/ws/analytics';
/** The gap-detection channel name of the analytics endpoint. */
export const ANALYTICS_CHANNEL = 'analytics';

export type AnalyticsEvents = BaseEvents & {
  /** Figures on open and in reply to `refreshStats()`. */
  initial_stats: Stats;
  /** Figures every HEARTBEAT_INTERVAL_MS. */
  heartbeat: Stats;
  /** Either of the two above: the latest figures. */
  stats: Stats;
  /** Each analytics event (of the subscribed types). */
  event: ReceivedAnalyticsEvent;
  /** The server confirmed an event filter (`['*']` = all). */
  subscribed: string[];
};


/**
 * `/ws/analytics` (DESIGN 1.1): live statistics and events, an event-type filter that survives
 * reconnects, `refreshStats()` and `ping()`.
 */
export class AnalyticsClient extends RawEndpointClient<AnalyticsEvents> {
  /** The requested event types; undefined = all. Re-sent after every reconnect. */
  private filter: string[] | undefined;
  private latest: Stats | undefined;

  constructor(options: RawClientOptions) {
    super(options, { url: (token) => endpointUrl(options.url, ANALYTICS_PATH, { token }) });
  }

  /** The most recent figures received, if any. */
  get stats(): Stats | undefined {
    return this.latest;
  }

  /** The event types this client asked for (undefined = all). */
  get subscription(): readonly string[] | undefined {
    return this.filter;
  }

  /**
   * Receive only these event types (`[]` or `['*']`: all; heartbeats always arrive). Kept and
   * re-sent after reconnects. Resolves with the server's confirmation, which may come after
   * the next reconnect when called while disconnected.
   */
  subscribe(types: readonly string[]): Promise<string[]> {
    this.filter = types.length === 0 || types.includes('*') ? undefined : [...new Set(types)];
    // A filtered client misses other types' offsets by design: gaps are only meaningful unfiltered.
    this.gaps.forget(ANALYTICS_CHANNEL);
    const confirmed = this.replies.wait('subscribed', this.requestTimeoutMs, 'subscribe');
    this.sendFilter();
    return confirmed.then((frame) => readStringList(frame['events']) ?? []);
  }

  /** Fresh figures from the server. */
  async refreshStats(): Promise<Stats> {
    const frame = await this.request({ type: 'refresh_stats' }, 'initial_stats');
    const stats = readStats(frame);
    if (!stats.ok) throw new Error(`refresh_stats: ${stats.error}`);
    return stats.value;
  }

  /** Round trip to the gateway. */
  protected onTransportOpen(): void {
    if (this.filter !== undefined) this.sendFilter();
    this.announceOpen();
  }

  private sendFilter(): void {
    this.socket.send({ type: 'subscribe', events: this.filter ?? ['*'] });
  }

  protected handleFrame(frame: JsonObject & { type: string }): string | undefined {
    switch (frame.type) {
      case 'initial_stats':
      case 'heartbeat': {
        const stats = readStats(frame);
        if (!stats.ok) return stats.error;
        if (frame.type === 'heartbeat') this.trackOffset(frame);
        this.latest = stats.value;
        if (frame.type === 'initial_stats') this.replies.settle('initial_stats', frame);
        this.emit(frame.type, stats.value);
        this.emit('stats', stats.value);
        return undefined;
      }
      case 'pong':
        return this.receivePong(frame);
      case 'subscribed': {
        const events = readStringList(frame['events']);
        if (events === undefined) return 'events must be an array of strings';
        this.replies.settle('subscribed', frame);
        this.emit('subscribed', events);
        return undefined;
      }
      case 'error':
        return this.reportServerError(frame);
      default: {
        const event = readAnalyticsEvent(frame);
        if (!event.ok) return event.error;
        this.trackOffset(frame);
        this.emit('event', event.value);
        return undefined;
      }
    }
  }

  private trackOffset(frame: JsonObject): void {
    const offset = offsetOf(frame);
    if (offset === undefined || this.filter !== undefined) return;
    this.reportGap(this.gaps.observe(ANALYTICS_CHANNEL, offset));
  }
}
