import type { LogEntry, LogFilter, PerformanceMetrics } from '@switchboard/protocol';
import { matchesLogFilter } from '@switchboard/protocol/log-filter';
import { RequestRejectedError } from '../core/errors.js';
import { isObject, isString, offsetOf, type JsonObject } from '../core/guards.js';
import { RawEndpointClient, type BaseEvents, type RawClientOptions } from '../core/raw-client.js';
import { endpointUrl } from '../core/websocket.js';
import { readLogEntries, readMetrics } from './frames.js';

export const LOGS_PATH = '/ws/logs';
/** The channel name of an app's logs in `gap` events. */
export const logsChannel = (appId: string): string => `logs:${appId}`;
/** How many recent entry ids are kept to drop the repeated part of a batch that overlaps processed offsets. */
const RECENT_IDS = 2_000;

export interface LogsClientOptions extends RawClientOptions {
  appId: string;
  userId: string;
  /** Applied on every (re)connect (see `setFilter`). */
  filter?: LogFilter;
  /**
   * Sends `ping` this often, ms, so that the server's IDLE_TIMEOUT_S does not close a
   * connection that only listens (default 20 000; 0 disables).
   */
  keepAliveMs?: number;
}

export type LogsEvents = BaseEvents & {
  /** The server accepted `{appId, userId}` (after each (re)connect). */
  authenticated: { appId: string; userId: string };
  /** A batch of live entries of this app (including the ones replayed by a resume). */
  logs: LogEntry[];
  /** The answer to `requestHistory()`, also requested by the client itself when frames were lost (a resume that could not recover, a live jump). */
  history: LogEntry[];
  /** Someone cleared this app's history. */
  cleared: { appId: string };
  /** Cluster figures, pushed every few seconds and in reply to `requestMetrics()`. */
  metrics: PerformanceMetrics;
};

/**
 * `/ws/logs` (docs/protocol-logs.md): one application's live log stream. Authenticates with its first
 * message on every (re)connect (asking to resume where it left off), restores the filter, and
 * offers history, clear and metrics.
 */
export class LogsClient extends RawEndpointClient<LogsEvents> {
  readonly appId: string;
  readonly userId: string;
  private filter: LogFilter | undefined;
  /** Ids of recently delivered entries, oldest first (a Set keeps insertion order). */
  private readonly recentIds = new Set<string>();

  constructor(options: LogsClientOptions) {
    super(options, {
      channel: logsChannel(options.appId),
      url: () => endpointUrl(options.url, LOGS_PATH),
      readyOnOpen: true,
      keepAlive: { intervalMs: options.keepAliveMs ?? 20_000, frame: JSON.stringify({ type: 'ping' }) },
    });
    this.appId = options.appId;
    this.userId = options.userId;
    this.filter = options.filter;
  }

  /** Filters live logs and history (`undefined` lifts it). Kept across reconnects. */
  setFilter(filter: LogFilter | undefined): void {
    this.filter = filter;
    // A filtered stream skips offsets by design.
    this.cursor.rebase();
    this.socket.send({ type: 'filter', filters: filter ?? {} });
  }

  /**
   * The app's newest entries (oldest first), filtered. A reconnect before the answer does not fail
   * it: the request is sent again on the next connection; a call while one is on its way shares it.
   */
  async requestHistory(): Promise<LogEntry[]> {
    const frame = await this.requestOwed({ type: 'request_history' }, 'history');
    return frame['payload'] as LogEntry[]; // settled with validated entries only
  }

  /**
   * Empties the app's history cluster-wide; resolves when the server confirms. Rejects with a
   * RequestRejectedError when the server refuses (a token without the `logs:clear` permission).
   */
  async clear(): Promise<void> {
    await this.request({ type: 'clear' }, 'cleared');
  }

  async requestMetrics(): Promise<PerformanceMetrics> {
    const frame = await this.request({ type: 'request_metrics' }, 'metrics');
    return frame['payload'] as PerformanceMetrics; // settled with validated figures only
  }

  protected onTransportOpen(token: string | undefined): void {
    const resume = this.cursor.resuming;
    this.socket.send({
      type: 'auth',
      data: {
        userId: this.userId,
        appId: this.appId,
        ...(token !== undefined ? { token } : {}),
        ...(resume !== undefined ? { epoch: resume.epoch, since: resume.offset } : {}),
        ...(resume?.acrossEpochs === true ? { acrossEpochs: true } : {}),
      },
    });
  }

  /**
   * The entries the server kept are the state a lost stretch leaves out: fetch them (the `history`
   * event). Owed until answered: several gaps make one request, a reconnect sends it again.
   */
  protected override onFramesLost(): void {
    if (this.replies.owes('history')) return; // the one on its way answers this gap too (and fails once)
    this.requestHistory().catch((err: unknown) => this.emit('error', err instanceof Error ? err : new Error(String(err))));
  }

  protected handleFrame(frame: JsonObject & { type: string }): string | undefined {
    const payload = frame['payload'];
    switch (frame.type) {
      case 'auth_success': {
        if (!isObject(payload) || !isString(payload['appId']) || !isString(payload['userId'])) return 'payload must have appId and userId';
        // The filter first: a history request owed from an earlier connection may follow at the hello.
        if (this.filter !== undefined) this.socket.send({ type: 'filter', filters: this.filter });
        if (this.cursor.expectsHello) this.receiveHello(frame);
        this.socket.ready();
        this.emit('authenticated', { appId: payload['appId'], userId: payload['userId'] });
        this.announceOpen();
        return undefined;
      }
      case 'auth_error': {
        const message = isObject(payload) && isString(payload['message']) ? payload['message'] : 'authentication refused';
        if (this.state === 'open') {
          // After auth, auth_error answers a misplaced message; the connection stays.
          this.emit('server_error', { message });
          return undefined;
        }
        this.socket.failAuth(message);
        return undefined;
      }
      case 'logs': {
        const entries = readLogEntries(payload);
        if (!entries.ok) return entries.error;
        const offset = offsetOf(frame);
        // Live batches carry the channel offsets they cover; history answers carry none.
        if (offset === undefined) {
          this.replies.settle('history', { payload: entries.value });
          this.emit('history', entries.value);
          return undefined;
        }
        const placed = this.placeChannelFrame(offsetOf(frame, 'fromOffset') ?? offset, offset, this.filter === undefined);
        if (placed === 'duplicate') return undefined;
        // Part of an overlapping batch was delivered already: its entries are known by id.
        const fresh = placed === 'overlap' ? entries.value.filter((entry) => !this.recentIds.has(entry.id)) : entries.value;
        // Replayed frames, and those sent before the server applied the filter, are filtered here.
        const shown = this.filter === undefined ? fresh : fresh.filter((entry) => matchesLogFilter(entry, this.filter));
        this.remember(fresh);
        if (shown.length > 0) this.emit('logs', shown);
        return undefined;
      }
      case 'cleared': {
        if (!isObject(payload) || !isString(payload['appId'])) return 'payload must have appId';
        const offset = offsetOf(frame);
        if (!this.acceptChannelFrame(offset, offset, this.filter === undefined)) return undefined;
        this.replies.settle('cleared', frame);
        this.emit('cleared', { appId: payload['appId'] });
        return undefined;
      }
      case 'metrics': {
        // Snapshots of another channel (pushed every few seconds): a missed one needs no recovery.
        const metrics = readMetrics(payload);
        if (!metrics.ok) return metrics.error;
        if (offsetOf(frame) === undefined) this.replies.settle('metrics', { payload: metrics.value });
        this.emit('metrics', metrics.value);
        return undefined;
      }
      case 'pong':
        return this.receivePong(frame);
      case 'error':
        // An error that names `clear` is the answer to the oldest pending clear.
        if (frame['request'] === 'clear' && isString(frame['message'])) this.replies.reject('cleared', new RequestRejectedError('clear', frame['message']));
        return this.reportServerError(frame);
      default:
        return `unknown frame type`;
    }
  }

  private remember(entries: readonly LogEntry[]): void {
    for (const entry of entries) this.recentIds.add(entry.id);
    for (const id of this.recentIds) {
      if (this.recentIds.size <= RECENT_IDS) break;
      this.recentIds.delete(id);
    }
  }
}
