import type { Stats } from '@switchboard/protocol';
import { offsetOf, type JsonObject } from '../core/guards.js';
import { RawEndpointClient, resumeQuery, type BaseEvents, type RawClientOptions } from '../core/raw-client.js';
import type { Gap } from '../core/resume.js';
import { endpointUrl } from '../core/websocket.js';
import { readAnalyticsEvent, readStats, readStringList, type ReceivedAnalyticsEvent } from './frames.js';

export const ANALYTICS_PATH = '/ws/analytics';
/** The channel name of the analytics endpoint in `gap` events. */
export const ANALYTICS_CHANNEL = 'analytics';

export type AnalyticsEvents = BaseEvents & {
  /** Figures on open and in reply to `refreshStats()`. */
  initial_stats: Stats;
  /** Figures every HEARTBEAT_INTERVAL_MS. */
  heartbeat: Stats;
  /** Either of the two above: the latest figures. */
  stats: Stats;
  /** Each analytics event (of the subscribed types), including the ones replayed by a resume. */
  event: ReceivedAnalyticsEvent;
  /** The server confirmed an event filter (`['*']` = all). */
  subscribed: string[];
};


/**
 * `/ws/analytics` (docs/protocol-analytics.md): live statistics and events, an event-type filter that survives
 * reconnects, `refreshStats()` and `ping()`. Reconnects resume where the client left off.
 */
export class AnalyticsClient extends RawEndpointClient<AnalyticsEvents> {
  /** The requested event types; undefined = all. Re-sent after every reconnect. */
  private filter: string[] | undefined;
  private latest: Stats | undefined;

  constructor(options: RawClientOptions) {
    super(options, { channel: ANALYTICS_CHANNEL, url: (token, resume) => endpointUrl(options.url, ANALYTICS_PATH, { token, ...resumeQuery(resume) }) });
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
    this.cursor.rebase();
    const confirmed = this.replies.wait('subscribed', this.requestTimeoutMs, 'subscribe', true);
    this.sendFilter();
    return confirmed.then((frame) => readStringList(frame['events']) ?? []);
  }

  /** A live jump in offsets left the figures behind: ask for fresh ones (the `stats` event). */
  protected override onFramesLost(gap: Gap): void {
    if (gap.reason !== 'offset_jump') return; // after not_recovered, initial_stats was fresh
    if (this.replies.owes('initial_stats')) return; // the refresh on its way answers this gap too
    this.refreshStats().catch((err: unknown) => this.emit('error', err instanceof Error ? err : new Error(String(err))));
  }

  /**
   * Fresh figures from the server. A reconnect before the answer does not fail it: the new
   * connection's first frame carries fresh figures and answers it.
   */
  async refreshStats(): Promise<Stats> {
    const frame = await this.requestOwed({ type: 'refresh_stats' }, 'initial_stats');
    const stats = readStats(frame);
    if (!stats.ok) throw new Error(`refresh_stats: ${stats.error}`);
    return stats.value;
  }

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
        if (frame.type === 'heartbeat' && !this.acceptFrame(frame)) return undefined;
        if (frame.type === 'initial_stats') {
          // A connection's first frame answers a refresh owed from an earlier one (before the hello would resend it).
          this.replies.settle('initial_stats', frame);
          if (this.cursor.expectsHello) this.receiveHello(frame);
        }
        this.emit(frame.type, stats.value);
        // Replayed heartbeats are older than the figures the reconnect's first frame brought.
        if (this.replaying) return undefined;
        this.latest = stats.value;
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
        if (!this.acceptFrame(frame)) return undefined;
        // Replayed frames and those sent before the server applied the filter are filtered here.
        if (this.filter === undefined || this.filter.includes(event.value.type)) this.emit('event', event.value);
        return undefined;
      }
    }
  }

  /** False for a frame already processed (the seam of a resume never shows one twice). */
  private acceptFrame(frame: JsonObject): boolean {
    const offset = offsetOf(frame);
    return this.acceptChannelFrame(offset, offset, this.filter === undefined);
  }
}
