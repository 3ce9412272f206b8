import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiffThrottle, NetChange } from '../src/presence/diff-window.js';

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
