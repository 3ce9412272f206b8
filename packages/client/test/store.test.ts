import { describe, expect, it } from 'vitest';
import { bounded, lazyStore } from '../src/stores/store.js';

describe('lazyStore', () => {
  it('starts its source with the first subscriber and stops it after the last', () => {
    const log: string[] = [];
    let push: ((n: number) => void) | undefined;
    const store = lazyStore(0, (set) => {
      log.push('start');
      push = (n) => set(n);
      return () => log.push('stop');
    });
    expect(store.getSnapshot()).toBe(0);
    const seen: number[] = [];
    const offA = store.subscribe(() => seen.push(store.getSnapshot()));
    const offB = store.subscribe(() => undefined);
    push?.(1);
    push?.(1); // same value: no notification
    push?.(2);
    offA();
    expect(log).toEqual(['start']);
    offB();
    offB(); // idempotent
    expect(log).toEqual(['start', 'stop']);
    expect(seen).toEqual([1, 2]);
  });

  it('accepts updater functions and keeps snapshots immutable', () => {
    let add: ((n: number) => void) | undefined;
    const store = lazyStore<readonly number[]>([], (set) => {
      add = (n) => set((previous) => [...previous, n]);
      return () => undefined;
    });
    store.subscribe(() => undefined);
    const before = store.getSnapshot();
    add?.(1);
    expect(before).toEqual([]);
    expect(store.getSnapshot()).toEqual([1]);
  });
});

describe('bounded', () => {
  it('keeps the newest `limit` entries, oldest first', () => {
    expect(bounded([1, 2, 3], [4, 5], 4)).toEqual([2, 3, 4, 5]);
  });
  it('keeps the newest `limit` entries, newest first', () => {
    expect(bounded([3, 2, 1], [4, 5], 4, true)).toEqual([5, 4, 3, 2]);
  });
  it('returns the same list when nothing was added', () => {
    const list = [1];
    expect(bounded(list, [], 3)).toBe(list);
  });
});
