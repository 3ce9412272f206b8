import type { WebSocket } from 'uWebSockets.js';
import type { ChannelMessage } from '@switchboard/engine';
import {
  LOGS_TOPICS,
  joinLogPayloads,
  logsBatchFrame,
  logsChannel,
  logsFramePayload,
  matchesLogFilter,
  readFrameHead,
  readFrameOffset,
  type LogEntry,
  type LogFilter,
} from '@switchboard/protocol';
import type { GatewayContext } from '../../context.js';
import type { SocketData } from '../connections.js';
import { observeDelivery, publishToTopic } from '../fanout.js';
import { sendFrame } from '../inbound.js';

export const LOGS_ENDPOINT = 'logs';

/** Live entries are batched per app: sent after this long, or sooner once this many bytes wait. */
export const LOG_BATCH_DELAY_MS = 25;
export const LOG_BATCH_MAX_BYTES = 64 * 1024;

export interface LogsSocket extends SocketData {
  /** Set once the first message authenticated the connection. */
  auth: { appId: string; userId: string; canClear: boolean } | undefined;
  /** The client's filter; undefined = everything. */
  filter: LogFilter | undefined;
  /** Closes the connection when no client message came for IDLE_TIMEOUT_S. */
  idleTimer: NodeJS.Timeout | undefined;
  /** Closes the connection when it has not authenticated within LOGS_AUTH_TIMEOUT_MS. */
  authTimer: NodeJS.Timeout | undefined;
  /** The message being handled: the next one waits for it. */
  turn: Promise<void>;
}

type LogsWs = WebSocket<LogsSocket>;

const FIRST_ID = /^\[\{"id":"([0-9a-fA-F-]{36})"/;

/** One app's live feed on this node: its channel subscription and the batch being gathered. */
class AppFeed {
  /** Clients of this app on this node (filtered or not). */
  members = 0;
  /** Clients with a filter: served one by one (the others share the app's topic). */
  readonly filtered = new Set<LogsWs>();
  ready: Promise<void> = Promise.resolve();
  private pending: string[] = [];
  private pendingBytes = 0;
  private fromOffset = 0;
  private toOffset = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly appId: string,
    private readonly ctx: GatewayContext,
  ) {}

  readonly onMessage = ({ frame }: ChannelMessage): void => {
    const { metrics, logger } = this.ctx;
    metrics.channelMessages.inc({ channel: LOGS_ENDPOINT });
    const payload = logsFramePayload(frame);
    const offset = readFrameOffset(frame) ?? 0;
    if (payload !== undefined) return this.gather(payload, offset);
    if (readFrameHead(frame)?.type === 'cleared') {
      // Entries gathered before the clear go out before it.
      this.flush();
      return this.broadcast(frame, () => frame);
    }
    logger.warn({ appId: this.appId, frame: frame.slice(0, 200) }, 'unroutable frame on a logs channel');
  };

  private gather(payload: string, offset: number): void {
    if (this.pending.length === 0) {
      this.fromOffset = offset;
      this.timer = setTimeout(() => this.flush(), LOG_BATCH_DELAY_MS);
    }
    this.pending.push(payload);
    this.pendingBytes += payload.length;
    this.toOffset = offset;
    if (this.pendingBytes >= LOG_BATCH_MAX_BYTES) this.flush();
  }

  /** Sends the gathered batch: encoded once for the app's topic, and once per distinct filter. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const payload = joinLogPayloads(this.pending);
    const { fromOffset, toOffset } = this;
    this.pending = [];
    this.pendingBytes = 0;
    let entries: LogEntry[] | undefined;
    this.broadcast(logsBatchFrame(payload, fromOffset, toOffset), (filter) => {
      entries ??= JSON.parse(payload) as LogEntry[];
      const kept = entries.filter((entry) => matchesLogFilter(entry, filter));
      return kept.length === 0 ? undefined : logsBatchFrame(JSON.stringify(kept), fromOffset, toOffset);
    });
    observeDelivery(this.ctx, LOGS_ENDPOINT, FIRST_ID.exec(payload)?.[1]);
  }

  /** To the app's topic as is; to each filtered client, the frame for its filter (if any). */
  private broadcast(frame: string, forFilter: (filter: LogFilter | undefined) => string | undefined): void {
    publishToTopic(this.ctx, LOGS_ENDPOINT, LOGS_TOPICS.app(this.appId), frame);
    const byFilter = new Map<string, string | undefined>();
    for (const ws of this.filtered) {
      const { filter } = ws.getUserData();
      const key = JSON.stringify(filter);
      if (!byFilter.has(key)) byFilter.set(key, forFilter(filter));
      const own = byFilter.get(key);
      if (own !== undefined) sendFrame(ws, own, this.ctx);
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.pending = [];
  }
}

/**
 * This node's `/ws/logs` fan-out: one channel subscription per app that has clients here (joined
 * with the first, left with the last), batches encoded once per app topic.
 */
export class LogsHub {
  private readonly feeds = new Map<string, AppFeed>();

  constructor(private readonly ctx: GatewayContext) {}

  /** Joins a client to its app's feed; false when the channel could not be subscribed to. */
  async join(ws: LogsWs, appId: string): Promise<boolean> {
    let feed = this.feeds.get(appId);
    if (feed === undefined) {
      const created = new AppFeed(appId, this.ctx);
      created.ready = this.ctx.engine.subscribe(logsChannel(appId), created.onMessage).catch((err: unknown) => {
        if (this.feeds.get(appId) === created) this.feeds.delete(appId);
        throw err;
      });
      this.feeds.set(appId, created);
      feed = created;
    }
    feed.members += 1;
    try {
      await feed.ready;
    } catch (err) {
      feed.members -= 1;
      this.ctx.logger.warn({ err, appId }, 'cannot subscribe to the app channel');
      return false;
    }
    if (ws.getUserData().closed) {
      this.leave(ws, appId);
      return false;
    }
    this.place(ws, feed);
    ws.subscribe(LOGS_TOPICS.metrics);
    return true;
  }

  /** Called when an authenticated client closes. */
  leave(ws: LogsWs, appId: string): void {
    const feed = this.feeds.get(appId);
    if (feed === undefined) return;
    feed.filtered.delete(ws);
    feed.members -= 1;
    if (feed.members > 0) return;
    this.feeds.delete(appId);
    feed.close();
    this.ctx.engine.unsubscribe(logsChannel(appId), feed.onMessage).catch((err: unknown) => {
      this.ctx.logger.warn({ err, appId }, 'cannot unsubscribe from the app channel');
    });
  }

  /** Changes a client's filter: filtered clients leave the shared topic and are served one by one. */
  setFilter(ws: LogsWs, appId: string, filter: LogFilter | undefined): void {
    const data = ws.getUserData();
    data.filter = filter;
    const feed = this.feeds.get(appId);
    if (feed !== undefined && !data.closed) this.place(ws, feed);
  }

  private place(ws: LogsWs, feed: AppFeed): void {
    const topic = LOGS_TOPICS.app(feed.appId);
    if (ws.getUserData().filter === undefined) {
      feed.filtered.delete(ws);
      ws.subscribe(topic);
    } else {
      ws.unsubscribe(topic);
      feed.filtered.add(ws);
    }
  }
}
