import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { MemoryEngine, type Presence, type PresenceMember } from '@switchboard/engine';
import { PresenceTracker } from '../src/presence/tracker.js';

const member = (clientId: string, userId: string | null = null): PresenceMember => ({ clientId, userId, info: {} });

describe('PresenceTracker', () => {
  let engine: MemoryEngine;
  let tracker: PresenceTracker;
  let refresh: MockInstance<Presence['refresh']>;
  let leave: MockInstance<Presence['leave']>;

  beforeEach(() => {
    vi.useFakeTimers();
    engine = new MemoryEngine();
    refresh = vi.spyOn(engine.presence, 'refresh');
    leave = vi.spyOn(engine.presence, 'leave');
    tracker = new PresenceTracker(engine, { ttlS: 30, graceS: 15, owner: 'gw-1', logger: pino({ level: 'silent' }), batchMs: 50 });
    tracker.start();
  });
  afterEach(() => {
    tracker.stop();
    vi.useRealTimers();
  });

  const occupancy = async (channel = 'ch') => (await engine.presence.occupancy([channel]))[0];

  it('writes the joins of one batch in one call', async () => {
    for (let n = 0; n < 500; n += 1) tracker.join(n % 2 === 0 ? 'a' : 'b', member(`c${n}`, `u${n % 10}`));
    expect(refresh).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(50);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(await occupancy('a')).toEqual({ connections: 250, users: 5 });
    expect(await occupancy('b')).toEqual({ connections: 250, users: 5 });
  });

  it('refreshes every membership in one call per third of the TTL, so none expires while held', async () => {
    for (let n = 0; n < 100; n += 1) tracker.join('ch', member(`c${n}`));
    await vi.advanceTimersByTimeAsync(50);
    refresh.mockClear();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(refresh.mock.calls[0]?.[0]).toHaveLength(100);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(await occupancy()).toEqual({ connections: 100, users: 100 });
  });

  it('leaves after the grace period, in one batch', async () => {
    tracker.join('ch', member('c1', 'alice'));
    tracker.join('ch', member('c2', 'alice'));
    await vi.advanceTimersByTimeAsync(50);
    tracker.leave('ch', 'c1');
    tracker.leave('ch', 'c2');
    await vi.advanceTimersByTimeAsync(14_000);
    expect(leave).not.toHaveBeenCalled();
    expect(await occupancy()).toEqual({ connections: 2, users: 1 });
    await vi.advanceTimersByTimeAsync(1_100);
    expect(leave).toHaveBeenCalledTimes(1);
    expect(await occupancy()).toEqual({ connections: 0, users: 0 });
    expect(tracker.size).toBe(0);
  });

  it('a client back within the grace period never left (no leave, no second join)', async () => {
    tracker.join('ch', member('c1', 'alice'));
    await vi.advanceTimersByTimeAsync(50);
    refresh.mockClear();
    tracker.leave('ch', 'c1');
    await vi.advanceTimersByTimeAsync(10_000);
    tracker.join('ch', member('c1', 'alice'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(leave).not.toHaveBeenCalled();
    // Only the periodic refreshes: the rejoin wrote nothing of its own.
    expect(refresh.mock.calls.every(([entries]) => entries.length === 1)).toBe(true);
    expect(await occupancy()).toEqual({ connections: 1, users: 1 });
  });

  it('keeps a membership while any of its connections is open', async () => {
    tracker.join('ch', member('c1'));
    tracker.join('ch', member('c1'));
    tracker.leave('ch', 'c1');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await occupancy()).toEqual({ connections: 1, users: 1 });
  });

  it('with no grace, leaves at the next batch', async () => {
    const quick = new PresenceTracker(engine, { ttlS: 30, graceS: 0, owner: 'gw-2', logger: pino({ level: 'silent' }), batchMs: 50 });
    quick.join('q', member('c1'));
    await vi.advanceTimersByTimeAsync(50);
    quick.leave('q', 'c1');
    await vi.advanceTimersByTimeAsync(50);
    expect(await occupancy('q')).toEqual({ connections: 0, users: 0 });
    quick.stop();
  });

  it('on stop, leaves nothing behind on purpose: members expire within the TTL unless another gateway takes them over', async () => {
    tracker.join('ch', member('c1'));
    await vi.advanceTimersByTimeAsync(50);
    tracker.stop();
    expect(leave).not.toHaveBeenCalled();
    expect(await occupancy()).toEqual({ connections: 1, users: 1 });
    await vi.advanceTimersByTimeAsync(30_001);
    expect(await occupancy()).toEqual({ connections: 0, users: 0 });
  });

  it('a client that moved to another gateway during the grace period stays: the old gateway neither takes it back nor removes it', async () => {
    tracker.stop();
    const logger = pino({ level: 'silent' });
    const gatewayB = new PresenceTracker(engine, { ttlS: 30, graceS: 15, owner: 'gw-b', logger, batchMs: 50 });
    gatewayB.start(); // refreshes at 10 s, 20 s, ...
    await vi.advanceTimersByTimeAsync(500);
    const gatewayA = new PresenceTracker(engine, { ttlS: 30, graceS: 15, owner: 'gw-a', logger, batchMs: 50 });
    gatewayA.start(); // refreshes at 10.5 s, 20.5 s, ...
    try {
      gatewayA.join('ch', member('mover', 'erin'));
      await vi.advanceTimersByTimeAsync(500);
      gatewayA.leave('ch', 'mover'); // its grace period ends at 16 s
      await vi.advanceTimersByTimeAsync(1_000);
      gatewayB.join('ch', member('mover', 'erin'));
      // Through B's refresh (10 s), A's (10.5 s), A's grace end (16 s) and on: always there, once.
      for (let t = 0; t < 40; t += 1) {
        await vi.advanceTimersByTimeAsync(500);
        expect(await occupancy()).toEqual({ connections: 1, users: 1 });
      }
      expect((await engine.presence.members('ch', 10)).members).toEqual([member('mover', 'erin')]);
    } finally {
      gatewayA.stop();
      gatewayB.stop();
    }
  });
});
