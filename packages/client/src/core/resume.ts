import { isNumber, isString, offsetOf, type JsonObject, type Parsed } from './guards.js';

import type { ChannelPosition } from '@switchboard/protocol';

/** A position in a channel: its epoch (offsets start over when it changes) and an offset in it. */
export type { ChannelPosition };

/** What a connection asks to resume from; `acrossEpochs`: a new epoch in full, when complete. */
export interface ResumeRequest extends ChannelPosition {
  acrossEpochs?: true;
}

/** What the server answered to a resume. */
export type ResumeOutcome =
  /**
   * Every missed frame follows, `count` of them, in order, before live frames. `epochChanged`
   * (asked with `acrossEpochs`): the channel started a new epoch (Redis lost its data), and the
   * frames are every one of the new epoch, from its offset 1; frames of the old epoch the client
   * had not processed are gone.
   */
  | { recovered: true; epoch: string; count: number; epochChanged?: true }
  /** The missed frames are gone (history too short, or a new epoch): state was refreshed. */
  | { recovered: false; epoch: string; offset: number };

/**
 * Frames of a channel that were missed and will not arrive: after a reconnect the server could
 * not resume (`not_recovered`), or offsets jumped on a live connection (`offset_jump`). The next
 * frame should have had `expected`, the stream goes on at `got` (with `not_recovered` after an
 * epoch change, `expected` counts in the old epoch).
 */
export interface Gap {
  /** The channel: `analytics`, `availability`, or `logs:<appId>`. */
  channel: string;
  expected: number;
  got: number;
  reason: 'not_recovered' | 'offset_jump';
}

/** What a channel frame is, relative to what was already processed. */
export type Placement = { kind: 'new'; gap: Gap | undefined } | { kind: 'duplicate' } | { kind: 'overlap'; lastProcessed: number };

/** What happened to a connection's hello frame (the first one, with `epoch` and `offset`). */
export type HelloResult =
  /** Nothing to resume: a first connection, or a server without epochs (which cannot resume). */
  | { kind: 'fresh' }
  /** A resume was asked: the server's `resumed` frame comes next. */
  | { kind: 'awaiting_resumed' };

const readPosition = (frame: JsonObject): ChannelPosition | undefined => {
  const epoch = frame['epoch'];
  const offset = offsetOf(frame);
  return isString(epoch) && epoch !== '' && offset !== undefined ? { epoch, offset } : undefined;
};

/**
 * One raw client's place in its channel, across reconnects: the epoch and the last offset it
 * processed. It says what to ask for on a reconnect (`?epoch=&since=`, or the logs `auth` fields),
 * reads the server's answer, drops frames already processed (the seam between replayed and live
 * frames must never show a frame twice), and notices offsets that jump.
 */
export class ChannelCursor {
  private position: { epoch: string | undefined; offset: number | undefined } = { epoch: undefined, offset: undefined };
  /** What the current connection asked to resume from. */
  private asked: ChannelPosition | undefined;
  /** The current connection's hello, while its `resumed` answer is awaited. */
  private hello: ChannelPosition | undefined;
  private phase: 'connecting' | 'hello' | 'resumed' | 'live' = 'connecting';
  /** The next frame sets a new baseline for gap detection (e.g. the filter changed). */
  private rebaseNext = false;

  constructor(
    readonly channel: string,
    /** Where to resume from on the first connection (a position saved earlier). */
    resumeFrom?: ChannelPosition,
    /** Ask for a new epoch in full when the channel's epoch changed (`acrossEpochs`). */
    private readonly acrossEpochs = false,
  ) {
    if (resumeFrom !== undefined && readPosition({ ...resumeFrom }) !== undefined) this.position = { epoch: resumeFrom.epoch, offset: resumeFrom.offset };
  }

  /** The epoch and last processed offset, once the server gave an epoch. */
  get current(): ChannelPosition | undefined {
    const { epoch, offset } = this.position;
    return epoch !== undefined && offset !== undefined ? { epoch, offset } : undefined;
  }

  /** What the current connection asked to resume from (undefined on a first connection). */
  get resuming(): ResumeRequest | undefined {
    return this.asked !== undefined && this.acrossEpochs ? { ...this.asked, acrossEpochs: true } : this.asked;
  }

  /** Whether the current connection's first frame is still to come. */
  get expectsHello(): boolean {
    return this.phase === 'hello';
  }

  /** A connection attempt begins: returns the resume parameters to send with it, if any. */
  beginConnection(): ResumeRequest | undefined {
    this.phase = 'connecting';
    this.hello = undefined;
    // Without an epoch, offsets of different connections cannot be compared.
    if (this.position.epoch === undefined) this.position.offset = undefined;
    this.asked = this.current;
    return this.resuming;
  }

  /** The transport opened: the next frame from the server is the hello. */
  opened(): void {
    this.phase = 'hello';
  }

  /** Reads the connection's hello frame (`initial_stats`, `connection`, `auth_success`). */
  onHello(frame: JsonObject): HelloResult {
    const hello = readPosition(frame);
    this.phase = 'live';
    const asked = this.asked;
    if (hello === undefined) {
      // A server without epochs: offsets are only comparable within this connection, and a
      // resume it was asked for is not happening (the client refetches as on a first connect).
      this.position = { epoch: undefined, offset: undefined };
      this.asked = undefined;
      return { kind: 'fresh' };
    }
    if (asked === undefined) {
      this.position = { ...hello };
      return { kind: 'fresh' };
    }
    this.hello = hello;
    this.phase = 'resumed';
    return { kind: 'awaiting_resumed' };
  }

  /**
   * Reads a `resumed` frame. A malformed one, or one that claims a recovery the client did not
   * ask for, is an error: the client then continues from the hello's position, as if not
   * recovered (it cannot trust a replay it cannot check).
   */
  onResumed(frame: JsonObject): { outcome: ResumeOutcome; gap: Gap | undefined; problem: string | undefined } | { unexpected: string } {
    const asked = this.asked;
    const hello = this.hello;
    if (this.phase !== 'resumed' || asked === undefined || hello === undefined) return { unexpected: 'a "resumed" frame without a resume in progress' };
    this.phase = 'live';
    this.hello = undefined;
    const parsed = readResumed(frame, asked, this.acrossEpochs);
    if (parsed.ok && parsed.value.recovered) {
      // A new epoch replayed from its start: the replayed frames count from offset 1.
      this.position = parsed.value.epochChanged === true ? { epoch: parsed.value.epoch, offset: 0 } : { ...asked };
      return { outcome: parsed.value, gap: undefined, problem: undefined };
    }
    // Not recovered: the fresh state the hello came with stands for everything up to its offset.
    const answer = parsed.ok ? (parsed.value as Extract<ResumeOutcome, { recovered: false }>) : undefined;
    const start = answer !== undefined && answer.epoch !== hello.epoch ? { epoch: answer.epoch, offset: answer.offset } : hello;
    this.position = { ...start };
    const gap: Gap = { channel: this.channel, expected: asked.offset + 1, got: start.offset + 1, reason: 'not_recovered' };
    return { outcome: { recovered: false, epoch: start.epoch, offset: start.offset }, gap, problem: parsed.ok ? undefined : parsed.error };
  }

  /**
   * Places a channel frame covering offsets `from`..`to` (one frame: from = to; a log batch may
   * cover several). Within an epoch, a frame at or below the last processed offset was already
   * processed. `trackGaps` is false while a filter makes jumps expected.
   */
  place(from: number, to: number, trackGaps: boolean): Placement {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) return { kind: 'new', gap: undefined };
    const last = this.position.offset;
    const rebase = this.rebaseNext;
    this.rebaseNext = false;
    if (last !== undefined && this.position.epoch !== undefined) {
      if (to <= last) return { kind: 'duplicate' };
      this.position.offset = to;
      if (from <= last) return { kind: 'overlap', lastProcessed: last };
    } else {
      // No epoch (an old server): an offset going backwards is a counter reset, a new baseline.
      this.position.offset = to;
    }
    const jumped = trackGaps && !rebase && last !== undefined && from > last + 1;
    return { kind: 'new', gap: jumped ? { channel: this.channel, expected: last + 1, got: from, reason: 'offset_jump' } : undefined };
  }

  /** The next frame is a new baseline for gap detection (offsets skipped by a filter change). */
  rebase(): void {
    this.rebaseNext = true;
  }
}

/** Validates a `resumed` frame against what was asked. */
export function readResumed(frame: JsonObject, asked: ChannelPosition, acrossEpochs = false): Parsed<ResumeOutcome> {
  const { recovered, epoch, count } = frame;
  if (typeof recovered !== 'boolean') return { ok: false, error: 'recovered must be a boolean' };
  if (!isString(epoch) || epoch === '') return { ok: false, error: 'epoch must be a non-empty string' };
  if (recovered) {
    // Another epoch only as the answer to acrossEpochs, and saying so.
    const epochChanged = acrossEpochs && frame['epochChanged'] === true && epoch !== asked.epoch;
    if (epoch !== asked.epoch && !epochChanged) return { ok: false, error: `recovered in epoch "${epoch}", but the client asked to resume epoch "${asked.epoch}"` };
    if (!isNumber(count) || !Number.isSafeInteger(count) || count < 0) return { ok: false, error: 'count must be a non-negative integer' };
    return { ok: true, value: epochChanged ? { recovered, epoch, count, epochChanged } : { recovered, epoch, count } };
  }
  const offset = offsetOf(frame);
  if (offset === undefined) return { ok: false, error: 'offset must be a non-negative integer' };
  return { ok: true, value: { recovered, epoch, offset } };
}
