import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PresenceDiff } from '@switchboard/protocol';
import { DiffThrottle, NetChange, netDiffs } from '../src/presence/diff-window.js';

const member = (clientId: string) => ({ clientId, userId: null, info: {} });

describe('NetChange', () => {
  it('cancels a join and a leave of the same client, in either order', () => {
    const change = new NetChange();
    change.add([member('a'), member('b')], []);
    change.add([], [member('a'), member('c')]);
    change.add([member('c')], []);
    expect([...change.joined.keys()]).toEqual(['b']);
    expect([...change.left.keys()]).toEqual([]);
  });
});

describe('netDiffs', () => {
  const diff = (offset: number, joined: string[], left: string[], connections: number): PresenceDiff => ({
    type: 'presence_diff',
    channel: 'analytics',
    joined: joined.map(member),
    left: left.map(member),
    occupancy: { connections, users: connections },
    epoch: 'e1',
    offset,
  });

  it('nets a run of diffs into one at the position and occupancy of the last', () => {
    const one = diff(3, ['a', 'b'], [], 2);
    expect(netDiffs([one])).toBe(one);
    expect(netDiffs([one, diff(4, ['c'], ['a'], 2), diff(6, ['a'], ['x'], 3)])).toEqual({
      type: 'presence_diff',
      channel: 'analytics',
      joined: [member('b'), member('c'), member('a')],
      left: [member('x')],
      occupancy: { connections: 3, users: 3 },
      epoch: 'e1',
      offset: 6,
    });
    expect(() => netDiffs([])).toThrow(/no diff/);
  });
});

describe('DiffThrottle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('emits the first change at once, then at most one netted change per window', () => {
    const emitted: { key: string; joined: string[]; left: string[] }[] = [];
    const throttle = new DiffThrottle(250, (key, change) => emitted.push({ key, joined: [...change.joined.keys()], left: [...change.left.keys()] }));
    throttle.add('ch', [member('a')], []);
    vi.advanceTimersByTime(1);
    expect(emitted).toEqual([{ key: 'ch', joined: ['a'], left: [] }]);
    // 100 changes within the next second: at most four more frames, each the net change.
    for (let i = 0; i < 100; i++) {
      throttle.add('ch', [member(`c${i}`)], []);
      if (i % 2 === 1) throttle.add('ch', [], [member(`c${i}`)]);
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(1000);
    const later = emitted.slice(1);
    expect(later.length).toBeLessThanOrEqual(5);
    expect(later.flatMap((e) => e.left)).toEqual([]);
    expect(later.flatMap((e) => e.joined)).toHaveLength(50);
    // A window with nothing netted emits nothing.
    throttle.add('ch', [member('z')], []);
    throttle.add('ch', [], [member('z')]);
    vi.advanceTimersByTime(1000);
    expect(emitted.slice(1 + later.length)).toEqual([]);
    throttle.stop();
  });
});

describe('DiffThrottle emitting netted windows', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('emits a window whose changes cancelled out (its frames were consumed), and frees the slot after a quiet one', () => {
    const emitted: { empty: boolean }[] = [];
    const throttle = new DiffThrottle(250, (_key, change) => emitted.push({ empty: change.empty }), true);
    throttle.add('ch', [member('z')], []);
    throttle.add('ch', [], [member('z')]);
    vi.advanceTimersByTime(1);
    expect(emitted).toEqual([{ empty: true }]);
    vi.advanceTimersByTime(1000);
    expect(emitted).toHaveLength(1); // an untouched window emits nothing
    throttle.stop();
  });
});
