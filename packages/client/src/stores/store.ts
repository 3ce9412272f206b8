/**
 * The shape `useSyncExternalStore` consumes; usable without React. Its functions are called
 * unbound (React passes them around), hence properties rather than methods.
 */
export interface ExternalStore<T> {
  subscribe: (listener: () => void) => () => void;
  getSnapshot: () => T;
}

/**
 * A store whose source is started by its first subscriber and stopped after its last one
 * leaves. `start` receives `set` and returns the stop function. Snapshots are replaced, never
 * mutated, so React sees every change.
 */
export function lazyStore<T>(initial: T, start: (set: (next: T | ((previous: T) => T)) => void, get: () => T) => () => void): ExternalStore<T> {
  let snapshot = initial;
  let stop: (() => void) | undefined;
  const listeners = new Set<() => void>();
  const get = () => snapshot;
  const set = (next: T | ((previous: T) => T)) => {
    const value = typeof next === 'function' ? (next as (previous: T) => T)(snapshot) : next;
    if (Object.is(value, snapshot)) return;
    snapshot = value;
    for (const listener of [...listeners]) listener();
  };
  return {
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1) stop = start(set, get);
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        stop?.();
        stop = undefined;
      };
    },
    getSnapshot: get,
  };
}

/** Appends to a bounded list, dropping the oldest (`newestFirst`: prepends, dropping the last). */
export function bounded<T>(list: readonly T[], added: readonly T[], limit: number, newestFirst = false): readonly T[] {
  if (added.length === 0) return list;
  if (newestFirst) return [...[...added].reverse(), ...list].slice(0, limit);
  const next = [...list, ...added];
  return next.length > limit ? next.slice(next.length - limit) : next;
}
