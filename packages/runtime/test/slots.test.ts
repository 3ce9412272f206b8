import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlotScheduler, slotGuard, slotOf } from '../src/slots.js';

describe('slots', () => {
  it('numbers wall-clock slots from the epoch', () => {
    expect(slotOf(0, 1_000)).toBe(0);
    expect(slotOf(999, 1_000)).toBe(0);
    expect(slotOf(1_000, 1_000)).toBe(1);
    expect(slotOf(1_795_312_149_123, 5_000)).toBe(359_062_429);
  });

  it('keeps a slot marker for three intervals, at least one second', () => {
    expect(slotGuard('k', 5_000)).toEqual({ kind: 'once', key: 'k', ttlS: 15 });
    expect(slotGuard('k', 1_500)).toEqual({ kind: 'once', key: 'k', ttlS: 5 });
    expect(slotGuard('k', 100)).toEqual({ kind: 'once', key: 'k', ttlS: 1 });
  });

  it('refuses an interval that is not positive', () => {
    expect(() => new SlotScheduler(0, () => undefined)).toThrow(RangeError);
    expect(() => new SlotScheduler(-5, () => undefined)).toThrow(RangeError);
    expect(() => new SlotScheduler(Number.NaN, () => undefined)).toThrow(RangeError);
  });
});

describe('SlotScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000_350 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once per slot, just after each boundary, with consecutive slot numbers', async () => {
    const fired: { slot: number; at: number }[] = [];
    const scheduler = new SlotScheduler(1_000, (slot, now) => fired.push({ slot, at: now }));
    scheduler.start();
    scheduler.start(); // a second start is a no-op, not a second schedule
    await vi.advanceTimersByTimeAsync(10_000);
    scheduler.stop();
    expect(fired).toHaveLength(10);
    fired.forEach(({ slot, at }, i) => {
      expect(slot).toBe(1_000_001 + i);
      expect(at % 1_000).toBe(1);
      expect(slotOf(at, 1_000)).toBe(slot);
    });
  });

  it('stops firing once stopped', async () => {
    const onSlot = vi.fn();
    const scheduler = new SlotScheduler(500, onSlot);
    scheduler.start();
    // Starts 350 ms into a 500 ms slot: boundaries after 150 and 650 ms.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(onSlot).toHaveBeenCalledTimes(2);
    scheduler.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(onSlot).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps its schedule when a slot handler throws', async () => {
    let calls = 0;
    const scheduler = new SlotScheduler(1_000, () => {
      calls += 1;
      throw new Error('boom');
    });
    scheduler.start();
    for (let i = 0; i < 3; i += 1) await vi.advanceTimersByTimeAsync(1_000).catch(() => undefined);
    scheduler.stop();
    expect(calls).toBe(3);
  });
});
