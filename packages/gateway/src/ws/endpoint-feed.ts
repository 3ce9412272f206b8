import type { WebSocket } from 'uWebSockets.js';
import type { ChannelMessage, HistoryResult, HistoryRequest } from '@switchboard/engine';
import { withTimeout } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { ChannelFeed, type FillReason } from '../feed/channel-feed.js';
import type { RawSocket } from './raw-endpoint.js';
import { notRecoveredFrame, recoveredFrame, unrecoverable, withPosition } from './resume.js';

/** Close code "service restart": the client reconnects, and its resume answers recovered:false. */
export const CLOSE_CHANNEL_RESET = 1012;
export const CHANNEL_RESET_REASON = 'channel history lost; reconnect';
/** How long a resume waits for this node's feed to reach an offset the client saw elsewhere. */
export const CATCH_UP_TIMEOUT_MS = 5_000;
/** Close code "try again later", for a resume this node could not serve in time. */
const CLOSE_TRY_AGAIN = 1013;

/** How this endpoint's clients receive a channel's frames once they are in order. */
export type FeedSink = (message: ChannelMessage) => void;

/** What a connection brings to `EndpointFeed.attach`. */
export interface AttachOptions<T extends RawSocket> {
  resume: HistoryRequest | undefined;
  /** The connection's first frame, without its position (attach appends it). */
  first(): Promise<string> | string;
  /** The frames this client gets for missed messages (its filter applied), in offset order. */
  replay(ws: WebSocket<T>, messages: ChannelMessage[]): string[];
  /** Joins the live fan-out (uWS topics); called synchronously after the replay. */
  join(ws: WebSocket<T>): void;
}

/**
 * A channel feed serving one raw endpoint's connections: the ordered, hole-filling
 * `ChannelFeed`, plus the resume seam (`attach`) and the sockets an epoch change closes with
 * 1012, so each reconnects, resumes, and is told `recovered:false` with fresh state.
 */
export class EndpointFeed {
  /** Sockets attached to this feed: the ones an epoch change closes. */
  readonly members = new Set<WebSocket<RawSocket>>();
  /** Frames forwarded while a connection reads history, kept for its seam. */
  private readonly joiners = new Set<ChannelMessage[]>();
  private waiters: { offset: number; wake: () => void }[] = [];
  /** Resume reads in flight, by epoch and offset. */
  private readonly historyReads = new Map<string, Promise<HistoryResult>>();
  private readonly feed: ChannelFeed;

  constructor(
    private readonly ctx: GatewayContext,
    readonly channel: string,
    readonly endpoint: string,
    sink: FeedSink,
  ) {
    const { engine, metrics, logger, subscription, config } = ctx;
    this.feed = new ChannelFeed(
      { engine, metrics, logger, subscription, historySize: config.historySize },
      {
        channel,
        deliver: (message) => {
          // Per frame: the usual case (nobody resuming, nobody waiting) allocates nothing.
          if (this.joiners.size > 0) for (const buffer of this.joiners) buffer.push(message);
          sink(message);
          if (this.waiters.length > 0) this.wakeReached();
        },
        afterEpochChange: 'latest',
        epochChanged: (_from, to) => this.closeMembers(to.epoch),
      },
    );
  }

  /** The epoch of the frames forwarded so far. */
  get epoch(): string {
    return this.feed.epoch;
  }

  /** The offset of the last frame forwarded to the sink. */
  get lastOffset(): number {
    return this.feed.lastOffset;
  }

  /** Hands a frame to the feed as the subscription would (tests play pub/sub with it). */
  get onMessage(): (message: ChannelMessage) => void {
    return this.feed.onMessage;
  }

  /** Subscribes and reads the channel's position; rejects when Redis cannot be reached. */
  start(): Promise<void> {
    return this.feed.start();
  }

  /** Leaves the channel; resumes waiting for this node to catch up give up. */
  async stop(): Promise<void> {
    const stopping = this.feed.stop();
    for (const waiter of this.waiters.splice(0)) waiter.wake();
    await stopping;
  }

  /** Reads what the subscription may have missed (see ChannelFeed.catchUp). */
  catchUp(reason: FillReason): void {
    this.feed.catchUp(reason);
  }

  private wakeReached(): void {
    if (this.waiters.length === 0) return;
    const last = this.feed.lastOffset;
    const due = this.waiters.filter((w) => w.offset <= last);
    this.waiters = this.waiters.filter((w) => w.offset > last);
    for (const waiter of due) waiter.wake();
  }

  /**
   * The channel's offsets started over: no offset a client holds means anything any more, and
   * a jump cannot show it. Clients are closed with 1012; they reconnect, resume, learn
   * `recovered:false` and get fresh state.
   */
  private closeMembers(epoch: string): void {
    this.ctx.logger.warn({ channel: this.channel, epoch, clients: this.members.size }, 'closing the channel\'s clients so they resume with fresh state');
    for (const ws of [...this.members]) if (!ws.getUserData().closed) ws.end(CLOSE_CHANNEL_RESET, CHANNEL_RESET_REASON);
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  /** Resolves true once the feed forwarded `offset`, false after `timeoutMs` (or a reset). */
  private async reached(offset: number, timeoutMs: number): Promise<boolean> {
    if (this.lastOffset >= offset) return true;
    const epoch = this.epoch;
    let waiter: { offset: number; wake: () => void } | undefined;
    const woken = new Promise<boolean>((resolve) => {
      waiter = { offset, wake: () => resolve(this.epoch === epoch && this.lastOffset >= offset) };
      this.waiters.push(waiter);
    });
    const reached = await withTimeout(woken, timeoutMs, undefined);
    if (reached === undefined) this.waiters = this.waiters.filter((w) => w !== waiter);
    return reached === true;
  }

  /**
   * A resume's history read found the channel in an epoch this node's feed is not in: Redis lost
   * the channel's data and the feed has not noticed yet (it does at the channel's next frame or
   * once its subscription is restored), or, rarely, the read is older than the feed. The feed
   * reads the channel's position now; resolves true once it moved to another epoch (its members,
   * this connection among them, are closed with 1012 then), false if it did not within
   * CATCH_UP_TIMEOUT_MS.
   */
  private async followEpoch(): Promise<boolean> {
    const epoch = this.epoch;
    this.feed.catchUp('epoch');
    // No offset is ever reached: only an epoch change (or a stop) wakes this waiter.
    await this.reached(Number.POSITIVE_INFINITY, CATCH_UP_TIMEOUT_MS);
    return this.epoch !== epoch;
  }

  /**
   * A connection's start on this channel: its first frame with the position it resumes from
   * (`epoch`, `offset`), then, when it asked to resume, `resumed` and the frames it missed, then
   * live frames. The classic seam: frames forwarded while history is read are kept for the
   * connection, history and those frames are merged by offset up to the feed's last forwarded
   * frame, and the connection joins the live fan-out in the same synchronous step, so no frame
   * comes twice, none is missing and none is out of order.
   */
  async attach<T extends RawSocket>(ws: WebSocket<T>, options: AttachOptions<T>): Promise<void> {
    const data = ws.getUserData();
    await this.start();
    if (data.closed) return;
    const member = ws as unknown as WebSocket<RawSocket>;
    this.members.add(member);
    const { resume } = options;
    const buffer: ChannelMessage[] = [];
    if (resume !== undefined) this.joiners.add(buffer);
    try {
      await this.serve(ws, options, buffer);
    } catch (err) {
      // Redis away mid-resume: the client retries rather than waiting on a silent socket.
      if (!data.closed) ws.end(CLOSE_TRY_AGAIN, 'temporarily unavailable; retry');
      throw err;
    } finally {
      this.joiners.delete(buffer);
    }
  }

  private async serve<T extends RawSocket>(ws: WebSocket<T>, options: AttachOptions<T>, buffer: ChannelMessage[]): Promise<void> {
    const { metrics } = this.ctx;
    const data = ws.getUserData();
    const { resume } = options;
    const [first, history] = await Promise.all([options.first(), resume === undefined ? undefined : this.sharedHistory(resume)]);
    if (data.closed) return;
    if (history !== undefined && history.epoch !== this.epoch) {
      // Answered now, the client would be told recovered:false in this node's old epoch, then
      // closed by the epoch change and told a second time: let the feed follow first.
      const moved = await this.followEpoch();
      if (data.closed) return; // closed by the epoch change (1012): its reconnect is answered once, in the new epoch
      if (!moved) {
        ws.end(CLOSE_TRY_AGAIN, 'this node has not followed the channel\'s epoch yet; retry');
        return;
      }
    }
    let missed: ChannelMessage[] | undefined;
    let reason = resume === undefined || history === undefined ? undefined : unrecoverable(resume, history, this.epoch);
    // A client of an older epoch that asked acrossEpochs gets the new epoch from its start.
    const epochChanged = history?.recovered === true && history.epochChanged === true;
    const since = epochChanged ? 0 : (resume?.since ?? 0);
    if (resume !== undefined && history?.recovered === true && reason === undefined) {
      // The client saw frames (on another node) that this node has not forwarded yet.
      const caughtUp = since <= this.lastOffset || (await this.reached(since, CATCH_UP_TIMEOUT_MS));
      if (data.closed) return;
      if (!caughtUp) {
        ws.end(CLOSE_TRY_AGAIN, 'this node is behind the offset to resume from; retry');
        return;
      }
      // An epoch change while waiting is a reset: its clients are closed with 1012.
      reason = history.epoch === this.epoch ? undefined : 'node_epoch';
      if (reason === undefined) missed = mergeMissed(history.messages, buffer, since, this.lastOffset);
      if (reason === undefined && missed === undefined) reason = 'history_gap';
    }
    const frames = [withPosition(first, this.epoch, this.lastOffset)];
    if (resume !== undefined) {
      if (missed !== undefined) {
        const replayed = options.replay(ws, missed);
        frames.push(recoveredFrame(this.epoch, replayed.length, this.lastOffset, epochChanged), ...replayed);
        metrics.resumes.inc({ endpoint: this.endpoint, outcome: 'recovered' });
        metrics.replayedFrames.inc({ endpoint: this.endpoint }, replayed.length);
      } else {
        frames.push(notRecoveredFrame(this.epoch, this.lastOffset));
        metrics.resumes.inc({ endpoint: this.endpoint, outcome: 'not_recovered' });
        metrics.resumesNotRecovered.inc({ endpoint: this.endpoint, reason: reason ?? 'history_gap' });
        this.ctx.logger.info({ endpoint: this.endpoint, channel: this.channel, reason, resume, at: this.feed.position() }, 'resume not recovered');
      }
    }
    sendFrames(ws, frames, this.ctx);
    if (!data.closed) options.join(ws);
  }

  /**
   * History for a resume, one read for every connection asking the same thing at once: after a
   * gateway restart its clients reconnect together, mostly from the same position. Only while
   * this node has forwarded nothing since the read went out: a connection catches what is
   * forwarded from its attach on, so a read older than that could miss the frames in between.
   */
  private sharedHistory(resume: HistoryRequest): Promise<HistoryResult> {
    const key = `${resume.epoch} ${resume.since} ${resume.acrossEpochs === true} ${this.epoch} ${this.lastOffset}`;
    let read = this.historyReads.get(key);
    if (read === undefined) {
      read = this.ctx.engine.history(this.channel, resume).finally(() => this.historyReads.delete(key));
      this.historyReads.set(key, read);
    }
    return read;
  }

  /** Called when an attached connection closes. */
  detach(ws: WebSocket<RawSocket>): void {
    this.members.delete(ws);
  }
}

/**
 * Sends a connection's start in one corked batch. A replay larger than the socket's
 * backpressure limit closes it (closeOnBackpressureLimit): the client resumes again from the
 * last frame it processed.
 */
function sendFrames(ws: WebSocket<RawSocket>, frames: string[], ctx: GatewayContext): void {
  const data = ws.getUserData();
  if (data.closed) return;
  ws.cork(() => {
    for (const frame of frames) ws.send(frame, false, true);
  });
  ctx.metrics.sent.inc({ endpoint: data.endpoint }, frames.length);
}

/**
 * The frames after `since` up to `upTo` from history and from what the feed forwarded
 * meanwhile, each once, in offset order; undefined when one is missing.
 */
function mergeMissed(history: ChannelMessage[], forwarded: ChannelMessage[], since: number, upTo: number): ChannelMessage[] | undefined {
  const byOffset = new Map<number, ChannelMessage>();
  for (const message of [...history, ...forwarded]) {
    if (message.offset > since && message.offset <= upTo) byOffset.set(message.offset, message);
  }
  if (byOffset.size !== upTo - since) return undefined;
  return [...byOffset.values()].sort((a, b) => a.offset - b.offset);
}
