/** Event name → listener argument. */
export type EventMap = Record<string, unknown>;
export type Listener<T> = (payload: T) => void;

/**
 * A minimal typed event emitter that works the same in browsers and Node. A listener that
 * throws is reported to `onListenerError` (default: rethrown asynchronously) instead of breaking
 * the socket callback that emitted.
 */
export class Emitter<Events extends EventMap> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown) => void = rethrowLater) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Like `on`, but removed after the first call. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener);
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}

/** Surfaces a listener's exception without unwinding the caller (like a DOM event handler). */
function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

/**
 * For clients: a listener that throws is reported as the client's `error` event; one that
 * throws while handling `error` is rethrown asynchronously (reporting it again would loop).
 */
export function reportListenerErrors(report: (err: Error) => void): (err: unknown) => void {
  let reporting = false;
  return (err) => {
    if (reporting) return rethrowLater(err);
    reporting = true;
    try {
      report(err instanceof Error ? err : new Error(String(err)));
    } finally {
      reporting = false;
    }
  };
}
