import type { CommitGuard } from '@switchboard/engine';

/** The wall-clock slot `now` falls in: slots are the multiples of the interval since the epoch. */
export const slotOf = (now: number, intervalMs: number): number => Math.floor(now / intervalMs);

/**
 * The commit guard that lets one slot's work apply at most once cluster-wide: a marker key that
 * outlives the slot by two intervals (at least a second), long after any late or handed-over
 * attempt at the same slot.
 */
export const slotGuard = (key: string, intervalMs: number): CommitGuard => ({
  kind: 'once',
  key,
  ttlS: Math.max(1, Math.ceil((intervalMs * 3) / 1000)),
});

/**
 * Calls `onSlot` just after each wall-clock slot boundary (1 ms after, so `Date.now()` is
 * inside the new slot). Every process sees the same boundaries, so whoever runs the work for a
 * slot, the slot is the same.
 */
export class SlotScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    readonly intervalMs: number,
    private readonly onSlot: (slot: number, now: number) => void,
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`slot interval must be positive, got ${intervalMs}`);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    const untilNextSlot = this.intervalMs - (Date.now() % this.intervalMs);
    this.timer = setTimeout(() => {
      if (!this.running) return;
      const now = Date.now();
      try {
        this.onSlot(slotOf(now, this.intervalMs), now);
      } finally {
        this.schedule();
      }
    }, untilNextSlot + 1);
  }
}
