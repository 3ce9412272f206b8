import type { WebSocket } from 'uWebSockets.js';
import type { ChannelMessage, HistoryResult } from '@switchboard/engine';
import type { GatewayContext } from '../context.js';
import type { RawSocket } from './raw-endpoint.js';
import { notRecoveredFrame, recoveredFrame, withPosition, type ResumeRequest } from './resume.js';

/** Close code "service restart": the client reconnects, and its resume answers recovered:false. */
export const CLOSE_CHANNEL_RESET = 1012;
export const CHANNEL_RESET_REASON = 'channel history lost; reconnect';
/** How long a resume waits for this node's feed to reach an offset the client saw elsewhere. */
export const CATCH_UP_TIMEOUT_MS = 5_000;
/** Close code "try again later", for a resume this node could not serve in time. */
const CLOSE_TRY_AGAIN = 1013;
/** Backoff between history reads that failed (Redis away), in ms. */
const RETRY_MS = [100, 250, 500, 1000, 2000];

export type FillReason = 'gap' | 'epoch' | 'restored' | 'probe';

/** How a channel's frames reach this node's clients once they are in order. */
export type FeedSink = (message: ChannelMessage) => void;

/** What a connection brings to `ChannelFeed.attach`. */
export interface AttachOptions<T extends RawSocket> {
  resume: ResumeRequest | undefined;
  /** The connection's first frame, without its position (attach appends it). */
  first(): Promise<string> | string;
  /** The frames this client gets for missed messages (its filter applied), in offset order. */
  replay(ws: WebSocket<T>, messages: ChannelMessage[]): string[];
  /** Joins the live fan-out (uWS topics); called synchronously after the replay. */
  join(ws: WebSocket<T>): void;
}

/**
 * One channel as this node receives it: frames forwarded to the sink exactly once and in offset
 * order, whatever pub/sub loses. A frame whose offset skips ahead, a restored subscription or a
 * recovered probe makes the feed read the missing frames from history and forward them before
 * anything newer. When history cannot fill the hole: if the epoch changed (Redis lost its data)
 * the feed closes its clients with 1012, so each reconnects, resumes, and is told
 * `recovered:false` with fresh state; if the hole is merely older than the history, it forwards
 * what the history still has, and clients see the jump in offsets. Never a silent gap.
 */
export class ChannelFeed {
  /** The epoch of the frames forwarded so far. */
  epoch = '';
  /** The offset of the last frame forwarded to the sink. */
  lastOffset = 0;
  /** Sockets attached to this feed: the ones an epoch change closes. */
  readonly members = new Set<WebSocket<RawSocket>>();
  /** Frames forwarded while a connection reads history, kept for its seam. */
  private readonly joiners = new Set<ChannelMessage[]>();
  /** Frames that arrived while the feed was starting or filling, or ahead of a hole. */
  private queue: ChannelMessage[] = [];
  /** Starting or filling: frames wait in the queue. */
  private busy = true;
  private waiters: { offset: number; wake: () => void }[] = [];
  private stopped = false;
  /** A catch-up asked for while a fill was running. */
  private catchUpAfter: FillReason | undefined;
  /** Resume reads in flight, by epoch and offset. */
  private readonly historyReads = new Map<string, Promise<HistoryResult>>();
  private started: Promise<void> | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    readonly channel: string,
    readonly endpoint: string,
    private readonly sink: FeedSink,
  ) {}

  /**
   * Subscribes, then reads the channel's position: every frame after it arrives through the
   * subscription, so the feed starts without a hole. Rejects when Redis cannot be reached.
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.ctx.engine.subscribe(this.channel, this.onMessage);
      try {
        if (this.stopped) throw new Error('channel feed stopped while starting');
        const position = await this.ctx.engine.position(this.channel);
        this.epoch = position.epoch;
        this.lastOffset = position.offset;
      } catch (err) {
        await this.ctx.engine.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
        throw err;
      }
      this.busy = false;
      this.ctx.subscription.feeds.add(this);
      this.drain('gap');
    })();
    return this.started;
  }

  /** Leaves the channel; queued frames are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.subscription.feeds.delete(this);
    this.queue = [];
    for (const waiter of this.waiters.splice(0)) waiter.wake();
    await this.ctx.engine.unsubscribe(this.channel, this.onMessage);
  }

  readonly onMessage = (message: ChannelMessage): void => {
    if (!this.busy && this.queue.length === 0 && message.epoch === this.epoch && message.offset === this.lastOffset + 1) {
      this.forward(message); // the usual case
      return;
    }
    this.queue.push(message);
    if (!this.busy) this.drain('gap');
  };

  /**
   * Reads what came since the last forwarded frame (after the subscription was restored or
   * stalled). A fill already running may have read before the subscription came back: another
   * one follows it.
   */
  catchUp(reason: FillReason): void {
    if (this.stopped || this.epoch === '') return;
    if (this.busy) this.catchUpAfter = reason;
    else void this.fill(reason);
  }

  /** Forwards queued frames that follow on; starts a fill at the first hole or foreign epoch. */
  private drain(reason: FillReason): void {
    const queued = this.queue.sort((a, b) => a.offset - b.offset);
    this.queue = [];
    for (let i = 0; i < queued.length; i++) {
      const message = queued[i] as ChannelMessage;
      if (message.epoch === this.epoch && message.offset <= this.lastOffset) continue; // already forwarded
      if (message.epoch === this.epoch && message.offset === this.lastOffset + 1) {
        this.forward(message);
        continue;
      }
      this.queue = queued.slice(i);
      void this.fill(message.epoch === this.epoch ? reason : 'epoch');
      return;
    }
  }

  private forward(message: ChannelMessage): void {
    this.lastOffset = message.offset;
    for (const buffer of this.joiners) buffer.push(message);
    this.sink(message);
    if (this.waiters.length > 0) {
      const due = this.waiters.filter((w) => w.offset <= this.lastOffset);
      this.waiters = this.waiters.filter((w) => w.offset > this.lastOffset);
      for (const waiter of due) waiter.wake();
    }
  }

  /** Fills the hole; a failure (a bug, not Redis: reads are retried) leaves the feed usable. */
  private async fill(reason: FillReason): Promise<void> {
    try {
      await this.fillHole(reason);
    } catch (err) {
      this.busy = false;
      this.ctx.logger.error({ err, channel: this.channel, reason }, 'filling a channel hole failed');
    }
  }

  /** Reads history after the last forwarded frame until it succeeds, then drains the queue. */
  private async fillHole(reason: FillReason): Promise<void> {
    const { metrics, logger } = this.ctx;
    this.busy = true;
    metrics.gapFills.inc({ reason });
    const queuedBefore = this.queue.length;
    let history = await this.readHistory(this.lastOffset);
    if (history === undefined) return;
    if (!history.recovered && history.epoch === this.epoch) {
      // The hole is older than the history: what the history still has is worth forwarding.
      const oldestKept = Math.max(this.lastOffset, history.offset - this.ctx.config.historySize);
      const tail = oldestKept > this.lastOffset ? await this.readHistory(oldestKept) : undefined;
      if (this.stopped) return;
      this.skipTo(tail?.recovered === true ? oldestKept : this.nextQueued() ?? history.offset, reason);
      if (tail !== undefined) history = tail;
    }
    if (history.recovered) {
      metrics.refilledFrames.inc(history.messages.length);
      if (history.messages.length > 0) {
        logger.info({ channel: this.channel, reason, frames: history.messages.length, from: this.lastOffset + 1 }, 'filled a hole from history');
      }
      for (const message of history.messages) if (message.offset === this.lastOffset + 1) this.forward(message);
      // Frames of another epoch queued before this read are older than the epoch it confirmed
      // (later ones may be newer: they start another fill).
      this.queue = this.queue.filter((message, i) => message.epoch === this.epoch || i >= queuedBefore);
    } else if (history.epoch !== this.epoch) {
      this.reset(history, reason);
    }
    this.busy = false;
    this.drain('gap');
    const pending = this.catchUpAfter;
    this.catchUpAfter = undefined;
    if (pending !== undefined) this.catchUp(pending);
  }

  /** Reads history after `since` until it succeeds; undefined once the feed stopped. */
  private async readHistory(since: number): Promise<HistoryResult | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ctx.engine.history(this.channel, { epoch: this.epoch, since });
      } catch (err) {
        if (attempt === 0) this.ctx.logger.warn({ err, channel: this.channel }, 'channel history unavailable; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
      }
      if (this.stopped) return undefined;
    }
  }

  /** The offset just before the oldest queued frame of this epoch, if any. */
  private nextQueued(): number | undefined {
    const offsets = this.queue.filter((m) => m.epoch === this.epoch && m.offset > this.lastOffset).map((m) => m.offset);
    return offsets.length === 0 ? undefined : Math.min(...offsets) - 1;
  }

  /**
   * Frames up to `offset` are gone for good (the hole outlived HISTORY_SIZE or HISTORY_TTL_S).
   * The offsets are still one numbering, so clients see the jump at the next frame and know
   * exactly how much they missed (a resume from before it answers recovered:false): the feed
   * carries on past it rather than closing every client of the channel.
   */
  private skipTo(offset: number, reason: FillReason): void {
    this.ctx.metrics.unfilledHoles.inc({ cause: 'history_too_short' });
    this.ctx.logger.warn({ channel: this.channel, reason, from: this.lastOffset + 1, to: offset }, 'frames older than the history are lost: skipping them');
    this.lastOffset = Math.max(this.lastOffset, offset);
  }

  /**
   * The channel's offsets started over under a new epoch (Redis lost its data): no offset a
   * client holds means anything any more, and a jump cannot show it. Clients are closed with
   * 1012; they reconnect, resume, learn `recovered:false` and get fresh state. The feed carries
   * on from the channel's current position.
   */
  private reset(position: { epoch: string; offset: number }, reason: FillReason): void {
    this.ctx.metrics.unfilledHoles.inc({ cause: 'epoch_changed' });
    this.ctx.logger.warn(
      { channel: this.channel, reason, from: { epoch: this.epoch, offset: this.lastOffset }, to: position, clients: this.members.size },
      'channel history cannot fill the hole: closing its clients so they resume with fresh state',
    );
    this.epoch = position.epoch;
    this.lastOffset = position.offset;
    this.queue = this.queue.filter((message) => message.epoch === this.epoch);
    for (const ws of [...this.members]) if (!ws.getUserData().closed) ws.end(CLOSE_CHANNEL_RESET, CHANNEL_RESET_REASON);
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  /** Resolves true once the feed forwarded `offset`, false after `timeoutMs` (or a reset). */
  private reached(offset: number, timeoutMs: number): Promise<boolean> {
    if (this.lastOffset >= offset) return Promise.resolve(true);
    const epoch = this.epoch;
    return new Promise((resolve) => {
      const waiter = {
        offset,
        wake: () => {
          clearTimeout(timer);
          resolve(this.epoch === epoch && this.lastOffset >= offset);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
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
    let missed: ChannelMessage[] | undefined;
    if (resume !== undefined && history?.recovered === true && history.epoch === this.epoch) {
      // The client saw frames (on another node) that this node has not forwarded yet.
      const caughtUp = resume.since <= this.lastOffset || (await this.reached(resume.since, CATCH_UP_TIMEOUT_MS));
      if (data.closed) return;
      if (!caughtUp) {
        ws.end(CLOSE_TRY_AGAIN, 'this node is behind the offset to resume from; retry');
        return;
      }
      if (history.epoch === this.epoch) missed = mergeMissed(history.messages, buffer, resume.since, this.lastOffset);
    }
    const frames = [withPosition(first, this.epoch, this.lastOffset)];
    if (resume !== undefined) {
      if (missed !== undefined) {
        const replayed = options.replay(ws, missed);
        frames.push(recoveredFrame(this.epoch, replayed.length, this.lastOffset), ...replayed);
        metrics.resumes.inc({ endpoint: this.endpoint, outcome: 'recovered' });
        metrics.replayedFrames.inc({ endpoint: this.endpoint }, replayed.length);
      } else {
        frames.push(notRecoveredFrame(this.epoch, this.lastOffset));
        metrics.resumes.inc({ endpoint: this.endpoint, outcome: 'not_recovered' });
      }
    }
    sendFrames(ws as unknown as WebSocket<RawSocket>, frames, this.ctx);
    if (!data.closed) options.join(ws);
  }

  /**
   * History for a resume, one read for every connection asking the same thing at once: after a
   * gateway restart its clients reconnect together, mostly from the same position.
   */
  private sharedHistory(resume: ResumeRequest): Promise<HistoryResult> {
    const key = `${resume.epoch} ${resume.since}`;
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
