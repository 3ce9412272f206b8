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
    // The periodic refreshes, and the rejoin writing the membership again (taking it over): one entry each.
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

  /** Two gateways on the one engine, A refreshing 500 ms after B, reporting what they write as joins. */
  async function twoGateways() {
    tracker.stop();
    const logger = pino({ level: 'silent' });
    const reported: string[] = [];
    const make = (owner: string) =>
      new PresenceTracker(engine, {
        ttlS: 30,
        graceS: 15,
        owner,
        logger,
        batchMs: 50,
        onWritten: (joins, leaves) => reported.push(...joins.map((e) => `${owner} join ${e.member.clientId}`), ...leaves.map((e) => `${owner} leave ${e.member.clientId}`)),
      });
    const gatewayB = make('gw-b');
    gatewayB.start(); // refreshes at 10 s, 20 s, ...
    await vi.advanceTimersByTimeAsync(500);
    const gatewayA = make('gw-a');
    gatewayA.start(); // refreshes at 10.5 s, 20.5 s, ...
    return { gatewayA, gatewayB, reported };
  }

  const at = (where: string): PresenceMember => ({ clientId: 'mover', userId: 'erin', info: { at: where } });

  /** Checks every 250 ms for `ms` that the mover is there once, held by `where`. */
  async function alwaysThere(ms: number, where: string): Promise<void> {
    for (let t = 0; t < ms; t += 250) {
      await vi.advanceTimersByTimeAsync(250);
      expect({ t, occupancy: await occupancy() }).toEqual({ t, occupancy: { connections: 1, users: 1 } });
      expect({ t, members: (await engine.presence.members('ch', 10)).members }).toEqual({ t, members: [at(where)] });
    }
  }

  it("a client that reconnected elsewhere before the old gateway saw its close stays: the old gateway's periodic refresh does not take it back", async () => {
    const { gatewayA, gatewayB, reported } = await twoGateways();
    try {
      gatewayA.join('ch', at('a'));
      await vi.advanceTimersByTimeAsync(500);
      // Its connection on A died unnoticed; it reconnects to B (the newest connection: B holds it).
      gatewayB.join('ch', at('b'));
      // Through B's refresh (10 s) and A's (10.5 s), A still counting the connection open...
      await alwaysThere(11_000, 'b');
      // ...then A sees the close: its grace period ends at 27 s, its leave must not remove it.
      gatewayA.leave('ch', 'mover');
      await alwaysThere(30_000, 'b');
      expect(reported).toEqual(['gw-a join mover', 'gw-b join mover', 'gw-a leave mover']);
    } finally {
      gatewayA.stop();
      gatewayB.stop();
    }
  });

  it('a client back on the first gateway within its grace period, after a stay on another, is held by the first again', async () => {
    const { gatewayA, gatewayB, reported } = await twoGateways();
    try {
      gatewayA.join('ch', at('a'));
      await vi.advanceTimersByTimeAsync(500);
      gatewayA.leave('ch', 'mover');
      gatewayB.join('ch', at('b'));
      await vi.advanceTimersByTimeAsync(1_000);
      // Back on A within A's grace period (no join reported), then B sees its close and leaves after its grace.
      gatewayA.join('ch', at('a-again'));
      gatewayB.leave('ch', 'mover');
      await alwaysThere(40_000, 'a-again');
      expect(reported).toEqual(['gw-a join mover', 'gw-b join mover', 'gw-b leave mover']);
    } finally {
      gatewayA.stop();
      gatewayB.stop();
    }
  });
});
