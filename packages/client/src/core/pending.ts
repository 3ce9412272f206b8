import { ClientClosedError, RequestTimeoutError } from './errors.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests answered by a reply of a known type, in order (the server answers a connection's
 * messages in order): `wait('pong')` is settled by the next `settle('pong', frame)`, or by its
 * deadline.
 */
export class PendingReplies<T> {
  private readonly queues = new Map<string, Waiter<T>[]>();

  wait(kind: string, timeoutMs: number, label = kind): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queue = this.queues.get(kind) ?? [];
      this.queues.set(kind, queue);
      const waiter: Waiter<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          reject(new RequestTimeoutError(label, timeoutMs));
        }, timeoutMs),
      };
      queue.push(waiter);
    });
  }

  /** Settles the oldest waiter of `kind`; false when nobody waited. */
  settle(kind: string, value: T): boolean {
    const waiter = this.queues.get(kind)?.shift();
    if (waiter === undefined) return false;
    clearTimeout(waiter.timer);
    waiter.resolve(value);
    return true;
  }

  /** Rejects the oldest waiter of `kind` (the server refused that request); false when nobody waited. */
  reject(kind: string, err: Error): boolean {
    const waiter = this.queues.get(kind)?.shift();
    if (waiter === undefined) return false;
    clearTimeout(waiter.timer);
    waiter.reject(err);
    return true;
  }

  /** Rejects the waiters of `kind` (or all of them). */
  rejectAll(err: Error = new ClientClosedError('client closed'), kind?: string): void {
    for (const [key, queue] of this.queues) {
      if (kind !== undefined && key !== kind) continue;
      for (const waiter of queue.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.reject(err);
      }
    }
  }
}
