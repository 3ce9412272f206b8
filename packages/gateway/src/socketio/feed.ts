import type { Logger } from 'pino';
import type { ChannelMessage, Engine } from '@switchboard/engine';

/** How long to wait before asking the history again after it failed (Redis away). */
const FILL_RETRY_MS = 500;

export interface FeedHooks {
  /** A hole was filled from the history with `frames` frames. */
  gapFilled(frames: number): void;
}

/**
 * One engine channel delivered in offset order, each offset once. A frame that arrives after a
 * hole (the subscription dropped or lagged) waits until the hole is filled from the channel's
 * history; frames already delivered are dropped. Delivery can be held while a reconnecting
 * client is brought up to date, so nothing is delivered between the moment its missed frames
 * are read and the moment it is back in its rooms.
 */
export class ChannelFeed {
  private epoch = '';
  /** Every frame up to this offset was delivered (or predates this node). */
  private last = 0;
  private started = false;
  private filling = false;
  private holds = 0;
  private readonly queue: ChannelMessage[] = [];
  private readonly receive = (message: ChannelMessage): void => {
    this.queue.push(message);
    this.drain();
  };

  constructor(
    private readonly engine: Engine,
    readonly channel: string,
    private readonly deliver: (message: ChannelMessage) => void,
    private readonly hooks: FeedHooks,
    private readonly logger: Logger,
  ) {}

  /** Subscribes, then starts from the channel's latest offset: earlier frames had no client here. */
  async start(): Promise<void> {
    await this.engine.subscribe(this.channel, this.receive);
    const { epoch, offset } = await this.engine.position(this.channel);
    this.epoch = epoch;
    this.last = offset;
    this.started = true;
    this.drain();
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.engine.unsubscribe(this.channel, this.receive);
  }

  /** The epoch and offset every local socket is up to date with. */
  position(): { epoch: string; offset: number } {
    return { epoch: this.epoch, offset: this.last };
  }

  /** Fetches whatever the history holds past the last delivered offset (after a resubscribe). */
  catchUp(): void {
    if (this.started) void this.fill();
  }

  /**
   * Runs `work` with live delivery held; delivery resumes only after every callback queued by
   * the time `work` settles has run (so a restored socket has joined its rooms by then).
   */
  async holding<T>(work: () => Promise<T>): Promise<T> {
    this.holds += 1;
    try {
      return await work();
    } finally {
      setImmediate(() => {
        this.holds -= 1;
        this.drain();
      });
    }
  }

  /**
   * Delivers, right now and even while held, the frames of a history read (`messages`, in
   * offset order, starting at or before the next expected offset) that are newer than the last
   * one delivered. Used by a recovery that read further than this node had got.
   */
  advance(epoch: string, messages: ChannelMessage[]): void {
    if (epoch !== this.epoch || messages.length === 0 || (messages[0]?.offset ?? 0) > this.last + 1) return;
    for (const message of messages) this.deliverNext(message);
  }

  private deliverNext(message: ChannelMessage): void {
    if (message.offset <= this.last) return;
    this.last = message.offset;
    try {
      this.deliver(message);
    } catch (err) {
      this.logger.error({ err, channel: this.channel, offset: message.offset }, 'channel frame delivery failed');
    }
  }

  private drain(): void {
    while (this.started && this.holds === 0 && !this.filling && this.queue.length > 0) {
      const next = this.queue[0] as ChannelMessage;
      if (next.epoch !== this.epoch) {
        // Offsets started over (Redis came back empty): count from the new epoch's beginning.
        this.logger.warn({ channel: this.channel, from: this.epoch, to: next.epoch }, 'channel epoch changed');
        this.epoch = next.epoch;
        this.last = 0;
      }
      if (next.offset > this.last + 1) {
        void this.fill();
        return;
      }
      this.queue.shift();
      this.deliverNext(next);
    }
  }

  /** Fills the hole after `last` from the history; frames it cannot fill any more are skipped. */
  private async fill(): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    let retry = false;
    try {
      const history = await this.engine.history(this.channel, { epoch: this.epoch, since: this.last });
      if (history.recovered) {
        // Through the queue, so a hold in progress is respected; frames that also arrive live
        // are dropped by offset when their turn comes.
        const missing = history.messages.filter((m) => m.offset > this.last);
        this.queue.unshift(...missing);
        if (missing.length > 0) this.hooks.gapFilled(missing.length);
      } else {
        this.logger.warn(
          { channel: this.channel, epoch: this.epoch, since: this.last, nowEpoch: history.epoch, nowOffset: history.offset },
          'frames missing from the channel history: skipping them',
        );
        const current = this.queue.filter((m) => m.epoch === history.epoch);
        this.queue.splice(0, this.queue.length, ...current);
        this.epoch = history.epoch;
        this.last = current[0] === undefined ? history.offset : Math.min(history.offset, current[0].offset - 1);
      }
    } catch (err) {
      this.logger.warn({ err, channel: this.channel }, 'channel history unavailable: retrying');
      retry = true;
    } finally {
      this.filling = false;
    }
    if (retry) setTimeout(() => this.drain(), FILL_RETRY_MS).unref();
    else this.drain();
  }
}
