import type { WebSocket } from 'uWebSockets.js';
import type { ChannelMessage } from '@switchboard/engine';
import {
  LOGS_TOPICS,
  logsBatchFrame,
  logsChannel,
  logsFramePayload,
  matchesLogFilter,
  readFrameHead,
  type LogEntry,
  type LogFilter,
} from '@switchboard/protocol';
import type { GatewayContext } from '../../context.js';
import { EndpointFeed } from '../endpoint-feed.js';
import { fanoutMeter, type FanoutMeter } from '../fanout.js';
import { sendFrame } from '../inbound.js';
import { LOG_BATCH_DELAY_MS, LogBatch } from './batch.js';
import type { RawSocket } from '../raw-endpoint.js';

export const LOGS_ENDPOINT = 'logs';

export { LOG_BATCH_DELAY_MS, LOG_BATCH_MAX_BYTES } from './batch.js';

export interface LogsSocket extends RawSocket {
  /** Set once the first message authenticated the connection. */
  auth: { appId: string; userId: string; canClear: boolean } | undefined;
  /** The client's filter; undefined = everything. */
  filter: LogFilter | undefined;
  /** Closes the connection when no client message came for IDLE_TIMEOUT_S. */
  idleTimer: NodeJS.Timeout | undefined;
  /** Closes the connection when it has not authenticated within LOGS_AUTH_TIMEOUT_MS. */
  authTimer: NodeJS.Timeout | undefined;
}

type LogsWs = WebSocket<LogsSocket>;

const FIRST_ID = /^\[\{"id":"([0-9a-fA-F-]{36})"/;

/**
 * The batch frame for one filter (undefined: none of its entries pass). The payload is parsed
 * at most once, whatever the number of filters asked for.
 */
function filteredBatch(payload: string, fromOffset: number, toOffset: number): (filter: LogFilter | undefined) => string | undefined {
  let entries: LogEntry[] | undefined;
  return (filter) => {
    if (filter === undefined) return logsBatchFrame(payload, fromOffset, toOffset);
    entries ??= JSON.parse(payload) as LogEntry[];
    const kept = entries.filter((entry) => matchesLogFilter(entry, filter));
    return kept.length === 0 ? undefined : logsBatchFrame(JSON.stringify(kept), fromOffset, toOffset);
  };
}

/** One app's live feed on this node: its channel (in order, holes filled) and the batch being gathered. */
export class AppFeed {
  /** Clients of this app on this node (filtered or not). */
  members = 0;
  /** Clients with a filter: served one by one (the others share the app's topic). */
  readonly filtered = new Set<LogsWs>();
  readonly channel: EndpointFeed;
  private readonly pending = new LogBatch();
  private timer: NodeJS.Timeout | undefined;
  private readonly fanout: FanoutMeter;

  constructor(
    readonly appId: string,
    private readonly ctx: GatewayContext,
  ) {
    this.fanout = fanoutMeter(ctx, LOGS_ENDPOINT);
    this.channel = new EndpointFeed(ctx, logsChannel(appId), LOGS_ENDPOINT, this.onMessage);
  }

  readonly onMessage = ({ frame, offset }: ChannelMessage): void => {
    const { logger } = this.ctx;
    this.fanout.frame();
    const payload = logsFramePayload(frame);
    if (payload !== undefined) return this.gather(payload, offset);
    if (readFrameHead(frame)?.type === 'cleared') {
      // Entries gathered before the clear go out before it.
      this.flush();
      return this.broadcast(frame, () => frame);
    }
    logger.warn({ appId: this.appId, frame: frame.slice(0, 200) }, 'unroutable frame on a logs channel');
  };

  private gather(payload: string, offset: number): void {
    if (this.pending.empty) this.timer = setTimeout(() => this.flush(), LOG_BATCH_DELAY_MS);
    if (this.pending.add(payload, offset)) this.flush();
  }

  /** Sends the gathered batch: encoded once for the app's topic, and once per distinct filter. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const gathered = this.pending.take();
    if (gathered === undefined) return;
    const { payload, fromOffset, toOffset } = gathered;
    const batch = filteredBatch(payload, fromOffset, toOffset);
    this.broadcast(batch(undefined) as string, batch);
    this.fanout.delivered(FIRST_ID.exec(payload)?.[1]);
  }

  /**
   * The frames a resuming client gets for missed channel messages: consecutive entries joined
   * into batches by the live rule (each with the offsets it covers), `cleared` in its place,
   * the client's filter applied.
   */
  replayFrames(messages: ChannelMessage[], filter: LogFilter | undefined): string[] {
    const frames: string[] = [];
    const group = new LogBatch();
    const flushGroup = () => {
      const gathered = group.take();
      const frame = gathered === undefined ? undefined : filteredBatch(gathered.payload, gathered.fromOffset, gathered.toOffset)(filter);
      if (frame !== undefined) frames.push(frame);
    };
    for (const message of messages) {
      const payload = logsFramePayload(message.frame);
      if (payload === undefined) {
        flushGroup();
        if (readFrameHead(message.frame)?.type === 'cleared') frames.push(message.frame);
        continue;
      }
      if (group.add(payload, message.offset)) flushGroup();
    }
    flushGroup();
    return frames;
  }

  /** To the app's topic as is; to each filtered client, the frame for its filter (if any). */
  private broadcast(frame: string, forFilter: (filter: LogFilter | undefined) => string | undefined): void {
    this.fanout.publish(LOGS_TOPICS.app(this.appId), frame);
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
    this.pending.take();
  }
}

/**
 * This node's `/ws/logs` fan-out: one channel subscription per app that has clients here (joined
 * with the first, left with the last), batches encoded once per app topic.
 */
export class LogsHub {
  private readonly feeds = new Map<string, AppFeed>();

  constructor(private readonly ctx: GatewayContext) {}

  /**
   * Counts a client in its app's feed, subscribing to the app's channel with the first; the
   * feed, or undefined when the channel could not be subscribed to. The client receives
   * nothing until `admit`.
   */
  async join(ws: LogsWs, appId: string): Promise<AppFeed | undefined> {
    let feed = this.feeds.get(appId);
    if (feed === undefined) {
      feed = new AppFeed(appId, this.ctx);
      this.feeds.set(appId, feed);
    }
    feed.members += 1;
    try {
      await feed.channel.start();
    } catch (err) {
      this.leave(ws, appId);
      this.ctx.logger.warn({ err, appId }, 'cannot subscribe to the app channel');
      return undefined;
    }
    if (ws.getUserData().closed) {
      this.leave(ws, appId);
      return undefined;
    }
    return feed;
  }

  /**
   * Starts live delivery to a joined client. The batch gathered so far holds frames the client
   * already has (its position covers them): it goes out to the others first.
   */
  admit(ws: LogsWs, feed: AppFeed): void {
    feed.flush();
    this.place(ws, feed);
    ws.subscribe(LOGS_TOPICS.metrics);
  }

  /** Called when a joined client closes. */
  leave(ws: LogsWs, appId: string): void {
    const feed = this.feeds.get(appId);
    if (feed === undefined) return;
    feed.filtered.delete(ws);
    feed.channel.detach(ws);
    feed.members -= 1;
    if (feed.members > 0) return;
    this.feeds.delete(appId);
    feed.close();
    feed.channel.stop().catch((err: unknown) => {
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
