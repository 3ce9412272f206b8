import type { ChannelMessage, HistoryRequest } from '@switchboard/engine';
import { parseJson, withTimeout, type OccupancyFrame, type PresenceDiff, type PresenceMemberFrame, type PresenceResumed, type PresenceSnapshot } from '@switchboard/protocol';
import { ChannelFeed, type FeedDeps } from '../feed/channel-feed.js';
import { DiffThrottle, type NetChange } from './diff-window.js';

/**
 * One connection subscribed to one channel's diffs: where its frames go, in the order given.
 * It also records its subscription (its channel, its stream once attached), so a connection
 * holds nothing else per subscription.
 */
export abstract class DiffSubscriber {
  stream: PresenceDiffStream | undefined;

  constructor(readonly name: string) {}

  /** The answer to a resuming subscription, before any diff. */
  abstract resumed(answer: PresenceResumed): void;
  abstract diff(diff: PresenceDiff): void;

  /** No more diffs come (it was detached): anything it holds back is dropped. */
  detached(): void {}
}

/** How long a resume waits for this gateway to reach an offset the client saw on another one. */
export const PRESENCE_CATCH_UP_MS = 5_000;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const memberList = (value: unknown): PresenceMemberFrame[] => (Array.isArray(value) ? value.filter(isRecord).map((m) => m as unknown as PresenceMemberFrame) : []);
const NO_OCCUPANCY: OccupancyFrame = { connections: 0, users: 0 };

/** A frame of the diff channel as its parts (what one gateway netted over one window). */
function partsOf(message: ChannelMessage): { joined: PresenceMemberFrame[]; left: PresenceMemberFrame[]; occupancy: OccupancyFrame | undefined } {
  const parsed = parseJson(message.frame);
  if (!parsed.ok || !isRecord(parsed.value)) return { joined: [], left: [], occupancy: undefined };
  const { joined, left, occupancy } = parsed.value;
  return { joined: memberList(joined), left: memberList(left), occupancy: isRecord(occupancy) ? (occupancy as unknown as OccupancyFrame) : undefined };
}

/**
 * One channel's presence diffs as this gateway's subscribers get them. The diff channel
 * (`sb:ch:presence:<name>`, numbered and kept in history) arrives through a `ChannelFeed`, each
 * frame once and in offset order; frames are netted per window for the live subscribers, and
 * each diff carries the epoch and the offset of the last frame it includes. A subscriber that
 * resumes from an offset gets the frames it missed from history, one diff per frame, then the
 * live ones: the seam is the offset of the last emitted window, and the windows emitted while
 * history is read are kept for it, so no frame comes twice and none is missing. When the
 * history cannot cover the gap, it gets a snapshot instead (`recovered: false`).
 */
export class PresenceDiffStream {
  private readonly feed: ChannelFeed;
  private readonly throttle: DiffThrottle;
  /** Frames forwarded by the feed, not yet emitted (the throttle nets them meanwhile). */
  private pending: ChannelMessage[] = [];
  /** The offset of the last frame emitted: every subscriber is up to date with it. */
  private emitted = 0;
  private readonly subscribers = new Set<DiffSubscriber>();
  /** Frames emitted while a subscriber reads history or a snapshot, kept for its seam. */
  private readonly joiners = new Set<ChannelMessage[]>();
  private waiters: (() => void)[] = [];
  /** Subscribers, and attaches in progress: the stream stops when none is left. */
  private users = 0;
  private started = false;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly diffChannel: string,
    private readonly deps: FeedDeps,
    private readonly snapshot: () => Promise<PresenceSnapshot>,
    windowMs: number,
  ) {
    this.throttle = new DiffThrottle(windowMs, (_name, change) => this.emit(change), true);
    this.feed = new ChannelFeed(deps, {
      channel: diffChannel,
      deliver: (message) => this.forwarded(message),
      afterEpochChange: 'latest',
      epochChanged: () => void this.resync(),
    });
  }

  get epoch(): string {
    return this.feed.epoch;
  }

  /** The position every subscriber is at. */
  get offset(): number {
    return this.emitted;
  }

  /** Whether nothing holds the stream any more (the owner stops it). */
  get unused(): boolean {
    return this.users === 0;
  }

  private async start(): Promise<void> {
    await this.feed.start();
    if (this.started) return;
    this.started = true;
    // The feed starts at the channel's position; frames it forwarded since are still pending.
    const first = this.pending[0];
    this.emitted = first === undefined ? this.feed.lastOffset : first.offset - 1;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.throttle.stop();
    this.wake();
    await this.feed.stop();
  }

  /**
   * Adds a subscriber. Without `resume`: live diffs from now. With it: `resumed` first, then the
   * missed diffs (or a snapshot), then live diffs. Rejects when Redis cannot be reached.
   */
  async attach(subscriber: DiffSubscriber, resume?: HistoryRequest): Promise<void> {
    this.users += 1;
    let added = false;
    try {
      await this.start();
      if (resume !== undefined) await this.resume(subscriber, resume);
      if (this.stopped) return;
      this.subscribers.add(subscriber);
      added = true;
    } finally {
      if (!added) this.users -= 1;
    }
  }

  /** Removes a subscriber; true when it was the last one. */
  detach(subscriber: DiffSubscriber): boolean {
    if (this.subscribers.delete(subscriber)) this.users -= 1;
    subscriber.detached();
    return this.users === 0;
  }

  private forwarded(message: ChannelMessage): void {
    this.pending.push(message);
    const { joined, left, occupancy } = partsOf(message);
    this.throttle.add(this.name, joined, left, occupancy);
  }

  /** One window: the frames it nets are consumed; subscribers get the net change, if any. */
  private emit(change: NetChange): void {
    const batch = this.pending.splice(0);
    const last = batch.at(-1);
    if (last === undefined) return;
    this.emitted = last.offset;
    for (const buffer of this.joiners) buffer.push(...batch);
    if (!change.empty) {
      const diff: PresenceDiff = {
        type: 'presence_diff',
        channel: this.name,
        joined: [...change.joined.values()],
        left: [...change.left.values()],
        occupancy: change.occupancy ?? NO_OCCUPANCY,
        epoch: last.epoch,
        offset: last.offset,
      };
      for (const subscriber of this.subscribers) subscriber.diff(diff);
    }
    this.wake();
  }

  private async resume(subscriber: DiffSubscriber, resume: HistoryRequest): Promise<void> {
    const buffer: ChannelMessage[] = [];
    const from = this.emitted;
    this.joiners.add(buffer);
    try {
      const history = await this.deps.engine.history(this.diffChannel, { epoch: resume.epoch, since: resume.since });
      const sameEpoch = history.recovered && history.epoch === this.epoch;
      // The client saw frames (through another gateway) that this one has not emitted yet.
      if (sameEpoch && resume.since > this.emitted) await this.reached(resume.since);
      const missed = sameEpoch && resume.since <= this.emitted && history.epoch === this.epoch ? mergeMissed(history.messages, buffer, resume.since, this.emitted) : undefined;
      if (missed !== undefined) {
        subscriber.resumed({ type: 'presence_resumed', channel: this.name, recovered: true, epoch: this.epoch, count: missed.length, offset: this.emitted });
        for (const message of missed) subscriber.diff(this.diffOf(message));
        return;
      }
      // The history cannot cover the gap: a snapshot read after `from` was recorded, and the
      // windows emitted since (news to it, or already in it: applying them again is harmless).
      const snapshot = await this.snapshot();
      const epoch = this.epoch;
      subscriber.resumed({ type: 'presence_resumed', channel: this.name, recovered: false, epoch, offset: from, snapshot: { ...snapshot, epoch, offset: from } });
      for (const message of buffer) if (message.epoch === epoch) subscriber.diff(this.diffOf(message));
    } finally {
      this.joiners.delete(buffer);
    }
  }

  /** One frame of the diff channel as a diff of its own (a replay). */
  private diffOf(message: ChannelMessage): PresenceDiff {
    const { joined, left, occupancy } = partsOf(message);
    return { type: 'presence_diff', channel: this.name, joined, left, occupancy: occupancy ?? NO_OCCUPANCY, epoch: message.epoch, offset: message.offset };
  }

  /** Waits (up to PRESENCE_CATCH_UP_MS) for this gateway to emit `offset`. */
  private async reached(offset: number): Promise<void> {
    const epoch = this.epoch;
    while (this.emitted < offset && this.epoch === epoch && !this.stopped) {
      const woken = new Promise<boolean>((resolve) => this.waiters.push(() => resolve(true)));
      if ((await withTimeout(woken, PRESENCE_CATCH_UP_MS, false)) === false) return;
    }
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /**
   * The diff channel's offsets started over (Redis lost its data): no subscriber's position
   * means anything any more. Each gets a fresh snapshot (`recovered: false`) at the new position.
   */
  private async resync(): Promise<void> {
    this.pending = [];
    this.emitted = this.feed.lastOffset;
    const buffer: ChannelMessage[] = [];
    const from = this.emitted;
    const epoch = this.epoch;
    this.joiners.add(buffer);
    try {
      const snapshot = await this.snapshot();
      if (this.stopped || this.epoch !== epoch) return;
      for (const subscriber of this.subscribers) {
        subscriber.resumed({ type: 'presence_resumed', channel: this.name, recovered: false, epoch, offset: from, snapshot: { ...snapshot, epoch, offset: from } });
        for (const message of buffer) subscriber.diff(this.diffOf(message));
      }
    } catch (err) {
      this.deps.logger.warn({ err, name: this.name }, 'presence snapshot after an epoch change failed');
    } finally {
      this.joiners.delete(buffer);
    }
  }
}

/** The frames after `since` up to `upTo`, from history and from what was emitted meanwhile, each once, in order; undefined when one is missing. */
export function mergeMissed(history: ChannelMessage[], emitted: ChannelMessage[], since: number, upTo: number): ChannelMessage[] | undefined {
  const byOffset = new Map<number, ChannelMessage>();
  for (const message of [...history, ...emitted]) {
    if (message.offset > since && message.offset <= upTo) byOffset.set(message.offset, message);
  }
  if (byOffset.size !== upTo - since) return undefined;
  return [...byOffset.values()].sort((a, b) => a.offset - b.offset);
}
