import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine, type Engine } from '@switchboard/engine';
import { Leadership, type LeaderTask } from '../src/leadership.js';
import { slotGuard } from '../src/slots.js';

const logger = pino({ level: 'silent' });
const PERIOD_MS = 1_000;

/** A slot task as the worker's heartbeat is: committed at most once per slot through a marker. */
function beatTask(engine: Engine, holder: string, beats: { slot: number; holder: string; at: number }[]): LeaderTask {
  return {
    name: 'beat',
    intervalMs: PERIOD_MS,
    catchUpOnAcquire: true,
    async run(slot, now) {
      const { applied } = await engine.commit({ guard: slotGuard(`test:beat:${slot}`, PERIOD_MS), ops: [] });
      if (applied) beats.push({ slot, holder, at: now });
    },
  };
}

/** An engine that behaves like `engine` until `cut()`, then fails every call (a partitioned or frozen process). */
function cuttable(engine: Engine): { engine: Engine; cut: () => void } {
  let cut = false;
  const proxy = new Proxy(engine, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (cut ? Promise.reject(new Error('connection lost')) : (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  return { engine: proxy, cut: () => (cut = true) };
}

const expectOneBeatPerSlot = (beats: { slot: number }[]) => {
  const slots = beats.map((b) => b.slot);
  expect(new Set(slots).size).toBe(slots.length);
  // No slot skipped between the first and the last beat.
  expect(slots).toEqual(Array.from({ length: slots.length }, (_, i) => slots[0]! + i));
};

describe('Leadership on one memory engine', () => {
  let engine: MemoryEngine;
  const running: Leadership[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_700_000_000_250 });
    engine = new MemoryEngine();
    await engine.connect();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((l) => l.stop()));
    await engine.close();
    vi.useRealTimers();
  });

  const start = (holder: string, beats: { slot: number; holder: string; at: number }[], on: Engine = engine) => {
    const changes: boolean[] = [];
    const changedAt: number[] = [];
    const onChange = (leader: boolean) => {
      changes.push(leader);
      changedAt.push(Date.now());
    };
    const leadership = new Leadership(on, { lease: 'test', holder, periodMs: PERIOD_MS, onChange }, logger).add(
      beatTask(on, holder, beats),
    );
    leadership.start();
    running.push(leadership);
    return { leadership, changes, changedAt };
  };

  it('lets exactly one of two processes lead and beat, once per slot', async () => {
    const beats: { slot: number; holder: string; at: number }[] = [];
    const a = start('a', beats);
    await vi.advanceTimersByTimeAsync(10);
    const b = start('b', beats);
    await vi.advanceTimersByTimeAsync(20 * PERIOD_MS);

    expect(a.leadership.isLeader).toBe(true);
    expect(b.leadership.isLeader).toBe(false);
    expect(a.changes).toEqual([true]);
    expect(b.changes).toEqual([]);
    // The catch-up beat on acquiring, then one per boundary.
    expect(beats).toHaveLength(21);
    expect(beats.every((beat) => beat.holder === 'a')).toBe(true);
    expectOneBeatPerSlot(beats);
  });

  it('hands over at once when the leader stops: the other beats the next slot, none doubled', async () => {
    const beats: { slot: number; holder: string; at: number }[] = [];
    const a = start('a', beats);
    await vi.advanceTimersByTimeAsync(10);
    const b = start('b', beats);
    await vi.advanceTimersByTimeAsync(5 * PERIOD_MS + 400);
    const stoppedAt = Date.now();
    await a.leadership.stop();
    await vi.advanceTimersByTimeAsync(10 * PERIOD_MS);

    expect(a.changes).toEqual([true, false]);
    expect(b.leadership.isLeader).toBe(true);
    // b renews every quarter period: the released lease is b's at its next renewal...
    expect(b.changes).toEqual([true]);
    expect(b.changedAt[0]! - stoppedAt).toBeLessThanOrEqual(PERIOD_MS / 4);
    // ...and a had beaten the current slot already, so b beats the next one.
    const firstOfB = beats.find((beat) => beat.holder === 'b')!;
    expect(firstOfB.at - stoppedAt).toBeLessThanOrEqual(PERIOD_MS);
    expectOneBeatPerSlot(beats);
    expect(beats.filter((beat) => beat.holder === 'a')).toHaveLength(6);
  });

  it('takes over within two intervals when the leader loses the engine, without a doubled slot', async () => {
    const beats: { slot: number; holder: string; at: number }[] = [];
    const lost = cuttable(engine);
    const a = start('a', beats, lost.engine);
    await vi.advanceTimersByTimeAsync(10);
    const b = start('b', beats);
    await vi.advanceTimersByTimeAsync(3 * PERIOD_MS + 600);
    lost.cut();
    const lastOfA = beats.at(-1)!;
    expect(lastOfA.holder).toBe('a');

    await vi.advanceTimersByTimeAsync(10 * PERIOD_MS);
    // a noticed at its next renewal that it no longer holds the lease and stopped leading.
    expect(a.changes).toEqual([true, false]);
    expect(a.leadership.isLeader).toBe(false);
    expect(b.leadership.isLeader).toBe(true);
    const firstOfB = beats.find((beat) => beat.holder === 'b')!;
    expect(firstOfB.at - lastOfA.at).toBeLessThanOrEqual(2 * PERIOD_MS);
    expect(firstOfB.slot).toBe(lastOfA.slot + 1);
    expectOneBeatPerSlot(beats);
    // b beats every slot from then on.
    expect(beats.filter((beat) => beat.holder === 'b').length).toBeGreaterThanOrEqual(9);
  });

  it('runs a task without catch-up only on its boundaries, and nothing at all while not leading', async () => {
    const runs: { holder: string; slot: number }[] = [];
    const task = (holder: string): LeaderTask => ({
      name: 'trim',
      intervalMs: 3 * PERIOD_MS,
      catchUpOnAcquire: false,
      run: async (slot) => {
        runs.push({ holder, slot });
      },
    });
    const a = new Leadership(engine, { lease: 'test', holder: 'a', periodMs: PERIOD_MS }, logger).add(task('a'));
    const b = new Leadership(engine, { lease: 'test', holder: 'b', periodMs: PERIOD_MS }, logger).add(task('b'));
    running.push(a, b);
    a.start();
    await vi.advanceTimersByTimeAsync(10);
    b.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(12 * PERIOD_MS);
    expect(runs).toHaveLength(4);
    expect(runs.every((r) => r.holder === 'a')).toBe(true);
  });

  it('logs a failing task and keeps running it on later slots', async () => {
    let calls = 0;
    const leadership = new Leadership(engine, { lease: 'test', holder: 'a', periodMs: PERIOD_MS }, logger).add({
      name: 'flaky',
      intervalMs: PERIOD_MS,
      catchUpOnAcquire: false,
      run: async () => {
        calls += 1;
        throw new Error('task failed');
      },
    });
    running.push(leadership);
    leadership.start();
    await vi.advanceTimersByTimeAsync(5 * PERIOD_MS);
    expect(calls).toBe(5);
    expect(leadership.isLeader).toBe(true);
  });
});
