/** A missed stretch of a channel: the next frame should have had `expected`, it had `got`. */
export interface Gap {
  /** The channel: `analytics`, `availability`, or `logs:<appId>`. */
  channel: string;
  expected: number;
  got: number;
}

/**
 * Per-channel offset tracking (DESIGN section 3: each published frame carries an `offset` that
 * increases by one per channel). The first offset after a (re)connect sets the baseline;
 * afterwards a jump forward is a gap. An offset that goes backwards means the server's counter
 * was reset (e.g. Redis lost its data): it becomes the new baseline, not a gap.
 */
export class GapDetector {
  private readonly next = new Map<string, number>();

  /**
   * Records a frame covering offsets `from`..`to` (one frame: from = to; a log batch covers a
   * range). Returns the gap before it, if any.
   */
  observe(channel: string, from: number, to: number = from): Gap | undefined {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) return undefined;
    const expected = this.next.get(channel);
    this.next.set(channel, to + 1);
    if (expected === undefined || from <= expected) return undefined;
    return { channel, expected, got: from };
  }

  /** Forgets one channel (e.g. after a filter change that makes gaps expected). */
  forget(channel: string): void {
    this.next.delete(channel);
  }

  /** Forgets everything: called on every (re)connect, where missed frames are a given. */
  reset(): void {
    this.next.clear();
  }
}
