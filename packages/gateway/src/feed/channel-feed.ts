import type { Logger } from 'pino';
import type { ChannelMessage, ChannelPosition, Channels, HistoryResult } from '@switchboard/engine';
import type { GatewayMetrics } from '../metrics.js';
import type { SubscriptionMonitor } from './subscription-monitor.js';

/** Backoff between history reads that failed (Redis away), in ms. */
const RETRY_MS = [100, 250, 500, 1000, 2000];

/** Why the feed read history: a skipped offset, a new epoch, a restored subscription, a recovered probe. */
export type FillReason = 'gap' | 'epoch' | 'restored' | 'probe';

export type { ChannelPosition } from '@switchboard/engine';

/** What a feed needs from its node. */
export interface FeedDeps {
  engine: Channels;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Tells every started feed to catch up after a restored subscription or a recovered probe. */
  subscription: SubscriptionMonitor;
  /** HISTORY_SIZE: how many frames back a channel's history reaches. */
  historySize: number;
}

export interface FeedOptions {
  channel: string;
  /** Receives the channel's frames, each once, in offset order. */
  deliver(message: ChannelMessage): void;
  /**
   * Where the feed carries on when the channel's epoch changed under it (Redis lost its data):
   * `latest` skips to the channel's current offset (for an owner that closes its clients so they
   * resume with fresh state); `first` forwards the new epoch from its first frame, as far as the
   * history holds it (for clients that stay connected).
   */
  afterEpochChange: 'latest' | 'first';
  /** Called when the feed moved to a new epoch, before it forwards any frame of it. */
  epochChanged?(from: ChannelPosition, to: ChannelPosition): void;
}

/**
 * One channel as this node receives it: frames delivered exactly once and in offset order,
 * whatever pub/sub loses. A frame whose offset skips ahead, a restored subscription or a
 * recovered probe makes the feed read the missing frames from history and deliver them before
 * anything newer. When history cannot fill the hole: if the epoch changed (Redis lost its data)
 * the owner is told and the feed carries on in the new epoch; if the hole is merely older than
 * the history, the feed delivers what the history still has, and clients see the jump in
 * offsets. Never a silent gap.
 *
 * Owners build on it: the raw endpoints' resume seam (`EndpointFeed`) and Socket.IO's session
 * recovery, which holds delivery while a socket is restored and advances the feed with what
 * its history read found.
 */
export class ChannelFeed {
  private currentEpoch = '';
  /** The offset of the last frame delivered (or skipped). */
  private last = 0;
  /** Frames that arrived while the feed was starting, filling or held, or ahead of a hole. */
  private queue: ChannelMessage[] = [];
  /** Starting or filling: frames wait in the queue. */
  private busy = true;
  /** Holds in progress: frames wait in the queue. */
  private holds = 0;
  private stopped = false;
  /** A catch-up asked for while a fill was running. */
  private catchUpAfter: FillReason | undefined;
  private started: Promise<void> | undefined;

  constructor(
    private readonly deps: FeedDeps,
    private readonly options: FeedOptions,
  ) {}

  get channel(): string {
    return this.options.channel;
  }

  /** The epoch of the frames delivered so far ('' before start). */
  get epoch(): string {
    return this.currentEpoch;
  }

  /** The offset of the last frame delivered: every local client is up to date with it. */
  get lastOffset(): number {
    return this.last;
  }

  position(): ChannelPosition {
    return { epoch: this.currentEpoch, offset: this.last };
  }

  /**
   * Subscribes, then reads the channel's position: every frame after it arrives through the
   * subscription, so the feed starts without a hole (earlier frames had no client here).
   * Rejects when Redis cannot be reached.
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      const { engine, subscription } = this.deps;
      await engine.subscribe(this.channel, this.onMessage);
      try {
        if (this.stopped) throw new Error('channel feed stopped while starting');
        const position = await engine.position(this.channel);
        this.currentEpoch = position.epoch;
        this.last = position.offset;
      } catch (err) {
        await engine.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
        throw err;
      }
      this.busy = false;
      subscription.feeds.add(this);
      this.drain('gap');
    })();
    return this.started;
  }

  /** Leaves the channel; queued frames are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.subscription.feeds.delete(this);
    this.queue = [];
    await this.deps.engine.unsubscribe(this.channel, this.onMessage);
  }

  readonly onMessage = (message: ChannelMessage): void => {
    if (this.idle() && this.queue.length === 0 && message.epoch === this.currentEpoch && message.offset === this.last + 1) {
      this.forward(message); // the usual case
      return;
    }
    this.queue.push(message);
    this.drain('gap');
  };

  /**
   * Reads what came since the last delivered frame (after the subscription was restored or
   * stalled). A fill already running may have read before the subscription came back: another
   * one follows it.
   */
  catchUp(reason: FillReason): void {
    if (this.stopped || this.currentEpoch === '') return;
    if (this.busy) this.catchUpAfter = reason;
    else void this.fill(reason);
  }

  /**
   * Holds delivery (frames wait in order) until the returned function is called: a recovery
   * brings a client up to date from history while nothing reaches the others.
   */
  hold(): () => void {
    this.holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      this.drain('gap');
    };
  }

  /**
   * Delivers at once, even while held, the frames of a history read made elsewhere (`messages`
   * in offset order) that follow on from the last delivered one; a read of another epoch or one
   * that would leave a hole is ignored. A recovery that read further than this node had got
   * uses it so that its client's missed frames and what it gets live meet exactly.
   */
  advance(epoch: string, messages: ChannelMessage[]): void {
    if (this.stopped || epoch !== this.currentEpoch) return;
    for (const message of messages) {
      if (message.offset <= this.last) continue;
      if (message.offset !== this.last + 1) return;
      this.forward(message);
    }
  }

  private idle(): boolean {
    return !this.busy && this.holds === 0;
  }

  /** Delivers queued frames that follow on; starts a fill at the first hole or foreign epoch. */
  private drain(reason: FillReason): void {
    if (!this.idle() || this.stopped) return;
    const queued = this.queue.sort((a, b) => a.offset - b.offset);
    this.queue = [];
    for (let i = 0; i < queued.length; i++) {
      const message = queued[i] as ChannelMessage;
      if (message.epoch === this.currentEpoch && message.offset <= this.last) continue; // already delivered
      if (message.epoch === this.currentEpoch && message.offset === this.last + 1) {
        this.forward(message);
        continue;
      }
      this.queue = queued.slice(i);
      void this.fill(message.epoch === this.currentEpoch ? reason : 'epoch');
      return;
    }
  }

  private forward(message: ChannelMessage): void {
    this.last = message.offset;
    try {
      this.options.deliver(message);
    } catch (err) {
      this.deps.logger.error({ err, channel: this.channel, offset: message.offset }, 'channel frame delivery failed');
    }
  }

  /** Fills the hole; a failure (a bug, not Redis: reads are retried) leaves the feed usable. */
  private async fill(reason: FillReason): Promise<void> {
    try {
      await this.fillHole(reason);
    } catch (err) {
      this.busy = false;
      this.deps.logger.error({ err, channel: this.channel, reason }, 'filling a channel hole failed');
    }
  }

  /** Reads history after the last delivered frame until it succeeds, then drains the queue. */
  private async fillHole(reason: FillReason): Promise<void> {
    const { metrics, logger, historySize } = this.deps;
    this.busy = true;
    metrics.gapFills.inc({ reason });
    const queuedBefore = this.queue.length;
    let history = await this.readHistory(this.last);
    if (history === undefined) return;
    if (!history.recovered && history.epoch === this.currentEpoch) {
      // The hole is older than the history: what the history still has is worth delivering.
      const oldestKept = Math.max(this.last, history.offset - historySize);
      const tail = oldestKept > this.last ? await this.readHistory(oldestKept) : undefined;
      if (this.stopped) return;
      this.skipTo(tail?.recovered === true ? oldestKept : (this.nextQueued() ?? history.offset), reason);
      if (tail !== undefined) history = tail;
    }
    if (history.recovered) {
      const missing = history.messages.filter((message) => message.offset > this.last);
      metrics.refilledFrames.inc(missing.length);
      if (missing.length > 0) {
        logger.info({ channel: this.channel, reason, frames: missing.length, from: this.last + 1 }, 'filled a hole from history');
      }
      // Frames of another epoch queued before this read are older than the epoch it confirmed
      // (later ones may be newer: they start another fill).
      this.queue = this.queue.filter((message, i) => message.epoch === this.currentEpoch || i >= queuedBefore);
      // Through the queue, so a hold in progress is respected; copies that also arrived live
      // are dropped by offset.
      this.queue.push(...missing);
    } else if (history.epoch !== this.currentEpoch) {
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
        return await this.deps.engine.history(this.channel, { epoch: this.currentEpoch, since });
      } catch (err) {
        if (attempt === 0) this.deps.logger.warn({ err, channel: this.channel }, 'channel history unavailable; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
      }
      if (this.stopped) return undefined;
    }
  }

  /** The offset just before the oldest queued frame of this epoch, if any. */
  private nextQueued(): number | undefined {
    const offsets = this.queue.filter((m) => m.epoch === this.currentEpoch && m.offset > this.last).map((m) => m.offset);
    return offsets.length === 0 ? undefined : Math.min(...offsets) - 1;
  }

  /**
   * Frames up to `offset` are gone for good (the hole outlived HISTORY_SIZE or HISTORY_TTL_S).
   * The offsets are still one numbering, so clients see the jump at the next frame and know
   * exactly how much they missed (a resume from before it answers recovered:false): the feed
   * carries on past it rather than closing every client of the channel.
   */
  private skipTo(offset: number, reason: FillReason): void {
    this.deps.metrics.unfilledHoles.inc({ cause: 'history_too_short' });
    this.deps.logger.warn({ channel: this.channel, reason, from: this.last + 1, to: offset }, 'frames older than the history are lost: skipping them');
    this.last = Math.max(this.last, offset);
  }

  /**
   * The channel's offsets started over under a new epoch (Redis lost its data): no offset a
   * client holds means anything any more, and history cannot fill the hole. The owner is told;
   * the feed carries on in the new epoch, from its current offset or from its first frame.
   */
  private reset(position: ChannelPosition, reason: FillReason): void {
    const from = this.position();
    this.deps.metrics.unfilledHoles.inc({ cause: 'epoch_changed' });
    this.deps.logger.warn({ channel: this.channel, reason, from, to: position }, 'channel epoch changed: history cannot fill the hole');
    this.currentEpoch = position.epoch;
    this.last = this.options.afterEpochChange === 'latest' ? position.offset : 0;
    this.queue = this.queue.filter((message) => message.epoch === this.currentEpoch);
    // Frames of the new epoch published before it was noticed may not be queued: read them.
    if (this.last < position.offset) this.catchUpAfter ??= 'epoch';
    this.options.epochChanged?.(from, this.position());
  }
}
