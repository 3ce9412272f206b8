import type { OccupancyFrame, PresenceDiff, PresenceMemberFrame } from '@switchboard/protocol';

/**
 * The net change of one channel's members since its last emission: a join and a leave of the
 * same client within one window cancel out.
 */
export class NetChange {
  readonly joined = new Map<string, PresenceMemberFrame>();
  readonly left = new Map<string, PresenceMemberFrame>();
  occupancy: OccupancyFrame | undefined;
  /** Something was added, even if it netted to nothing. */
  touched = false;

  add(joined: readonly PresenceMemberFrame[], left: readonly PresenceMemberFrame[], occupancy?: OccupancyFrame): void {
    for (const member of joined) {
      if (!this.left.delete(member.clientId)) this.joined.set(member.clientId, member);
    }
    for (const member of left) {
      if (!this.joined.delete(member.clientId)) this.left.set(member.clientId, member);
    }
    if (occupancy !== undefined) this.occupancy = occupancy;
    this.touched = true;
  }

  get empty(): boolean {
    return this.joined.size === 0 && this.left.size === 0;
  }
}

/** Consecutive diffs of one channel as one: their net change, at the position and occupancy of the last. */
export function netDiffs(diffs: readonly PresenceDiff[]): PresenceDiff {
  const last = diffs.at(-1);
  if (last === undefined) throw new Error('netDiffs: no diff');
  if (diffs.length === 1) return last;
  const change = new NetChange();
  for (const diff of diffs) change.add(diff.joined, diff.left);
  return { ...last, joined: [...change.joined.values()], left: [...change.left.values()] };
}

interface Slot {
  change: NetChange;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Throttles emissions per key to one per `windowMs`, gathering what comes in between: the first
 * change after a quiet window goes out at once, the rest at the end of the window, netted.
 */
export class DiffThrottle {
  private readonly pending = new Map<string, Slot>();

  /**
   * `emitNetted`: also emit a window whose changes netted to nothing (a follower of offsets needs
   * to know they were consumed); otherwise such a window emits nothing.
   */
  constructor(
    private readonly windowMs: number,
    private readonly emit: (key: string, change: NetChange) => void,
    private readonly emitNetted = false,
  ) {}

  add(key: string, joined: readonly PresenceMemberFrame[], left: readonly PresenceMemberFrame[], occupancy?: OccupancyFrame): void {
    let slot = this.pending.get(key);
    if (slot === undefined) {
      slot = { change: new NetChange(), timer: undefined };
      this.pending.set(key, slot);
    }
    slot.change.add(joined, left, occupancy);
    if (slot.timer !== undefined) return;
    // Quiet since the last window: out at once (in the next turn, with what arrives meanwhile).
    const current = slot;
    current.timer = setTimeout(() => this.fire(key, current), 0);
    current.timer.unref();
  }

  stop(): void {
    for (const slot of this.pending.values()) clearTimeout(slot.timer);
    this.pending.clear();
  }

  private fire(key: string, slot: Slot): void {
    slot.timer = undefined;
    const { change } = slot;
    slot.change = new NetChange();
    slot.change.occupancy = change.occupancy;
    if (this.emitNetted ? !change.touched : change.empty) {
      this.pending.delete(key);
      return;
    }
    // The window after an emission: what comes meanwhile waits for its end (an empty end frees the slot).
    slot.timer = setTimeout(() => this.fire(key, slot), this.windowMs);
    slot.timer.unref();
    this.emit(key, change);
  }
}
