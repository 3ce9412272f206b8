import { ClientClosedError, RequestTimeoutError } from './errors.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  /** The deadline of the answer; none while an owed request waits for a connection to carry it. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** An owed request (see `owe`): what to send again, and whether the current connection carried it. */
  owed?: { message: unknown; label: string; sent: boolean; promise: Promise<T> };
  /** Answered on the next connection too (the request is sent again there), so a lost connection keeps it. */
  carriedOver?: boolean;
  label: string;
}

/** Sends a message on the current connection; false when there is none. */
export type Send = (message: unknown) => boolean;

/**
 * Requests answered by a reply of a known type, in order (the server answers a connection's
 * messages in order): `wait('pong')` is settled by the next `settle('pong', frame)`, or by its
 * deadline.
 *
 * An owed request (`owe`) is a read-only one the client's state depends on (the logs history,
 * fresh statistics): a connection that closes before its answer is not an error, it is sent again
 * once the next connection is usable (`resendOwed`), and while one is owed another of its reply
 * type shares it instead of sending a second.
 */
export class PendingReplies<T> {
  private readonly queues = new Map<string, Waiter<T>[]>();

  /**
   * Waits for the next reply of `kind`. A connection lost before it fails it at once
   * (`ClientClosedError`), unless `carriedOver`: the client sends the request again on the next
   * connection (a subscription filter), whose answer settles it.
   */
  wait(kind: string, timeoutMs: number, label = kind, carriedOver = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, timer: undefined, label, carriedOver };
      this.enqueue(kind, waiter);
      this.startDeadline(kind, waiter, timeoutMs, label);
    });
  }

  /** Sends `message` (answered by `kind`) unless one is owed already, and keeps it owed until answered. */
  owe(kind: string, message: unknown, send: Send, timeoutMs: number, label = kind): Promise<T> {
    const pending = this.queues.get(kind)?.find((waiter) => waiter.owed !== undefined);
    if (pending?.owed !== undefined) return pending.owed.promise;
    let settlers!: Pick<Waiter<T>, 'resolve' | 'reject'>;
    const promise = new Promise<T>((resolve, reject) => {
      settlers = { resolve, reject };
    });
    const waiter: Waiter<T> = { ...settlers, timer: undefined, label, owed: { message, label, sent: false, promise } };
    this.enqueue(kind, waiter);
    this.sendOwed(kind, waiter, send, timeoutMs);
    return promise;
  }

  /** Whether a request answered by `kind` is owed. */
  owes(kind: string): boolean {
    return this.queues.get(kind)?.some((waiter) => waiter.owed !== undefined) === true;
  }

  /**
   * The connection closed: what it carried will not be answered. Owed requests wait for the next
   * one, without a deadline; carried-over ones keep theirs; the others fail now rather than at
   * their deadline (a `ping()` is not answered by another connection).
   */
  connectionLost(): void {
    for (const [kind, queue] of this.queues) {
      const kept = queue.filter((waiter) => {
        if (waiter.carriedOver === true) return true;
        clearTimeout(waiter.timer);
        waiter.timer = undefined;
        if (waiter.owed !== undefined) {
          waiter.owed.sent = false;
          return true;
        }
        waiter.reject(new ClientClosedError(`${waiter.label}: the connection closed before the answer`));
        return false;
      });
      this.queues.set(kind, kept);
    }
  }

  /** A connection became usable (authenticated, its resume answered): sends the owed requests it has not carried. */
  resendOwed(send: Send, timeoutMs: number): void {
    for (const [kind, queue] of this.queues) {
      for (const waiter of queue) if (waiter.owed?.sent === false) this.sendOwed(kind, waiter, send, timeoutMs);
    }
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

  private enqueue(kind: string, waiter: Waiter<T>): void {
    const queue = this.queues.get(kind) ?? [];
    this.queues.set(kind, queue);
    queue.push(waiter);
  }

  private sendOwed(kind: string, waiter: Waiter<T>, send: Send, timeoutMs: number): void {
    if (waiter.owed === undefined || !send(waiter.owed.message)) return;
    waiter.owed.sent = true;
    this.startDeadline(kind, waiter, timeoutMs, waiter.owed.label);
  }

  /** A live connection that does not answer in time: the request fails (an owed one is no longer owed). */
  private startDeadline(kind: string, waiter: Waiter<T>, timeoutMs: number, label: string): void {
    waiter.timer = setTimeout(() => {
      const queue = this.queues.get(kind);
      const index = queue?.indexOf(waiter) ?? -1;
      if (index >= 0) queue?.splice(index, 1);
      waiter.reject(new RequestTimeoutError(label, timeoutMs));
    }, timeoutMs);
  }
}
