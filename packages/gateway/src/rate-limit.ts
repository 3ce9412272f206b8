/** Past this many times the allowed rate in one window, a flooding client is disconnected. */
export const FLOOD_FACTOR = 5;

/**
 * What to do with one message:
 * - `allowed`: within the rate;
 * - `limited_first`: the first one over it in this window (answer once, so the client knows);
 * - `limited`: further over it (drop, answering nothing: no amplification);
 * - `flood`: past FLOOD_FACTOR times the rate (disconnect).
 */
export type RateVerdict = 'allowed' | 'limited_first' | 'limited' | 'flood';

interface WindowCount {
  window: number;
  count: number;
}

/**
 * A fixed-window message rate per socket, decided synchronously on the hot path: a counter per
 * socket and one shared tick that opens a new window for every socket at once (a counter from an
 * older window starts over at its next message). No promise, no timer per socket or message.
 * Sockets are keys of a WeakMap: a closed socket's counter goes with it.
 */
export class SocketRateLimiter<Socket extends object> {
  private window = 0;
  private readonly counts = new WeakMap<Socket, WindowCount>();
  private readonly tick: NodeJS.Timeout;

  constructor(
    readonly limit: number,
    windowMs = 1_000,
  ) {
    if (!(limit > 0) || !(windowMs > 0)) throw new RangeError(`rate limit needs a positive limit and window, got ${limit}/${windowMs} ms`);
    this.tick = setInterval(() => {
      this.window += 1;
    }, windowMs);
    this.tick.unref();
  }

  /** Counts one message of `socket` and says what to do with it. */
  take(socket: Socket): RateVerdict {
    let entry = this.counts.get(socket);
    if (entry === undefined) {
      entry = { window: this.window, count: 0 };
      this.counts.set(socket, entry);
    } else if (entry.window !== this.window) {
      entry.window = this.window;
      entry.count = 0;
    }
    entry.count += 1;
    if (entry.count <= this.limit) return 'allowed';
    if (entry.count > this.limit * FLOOD_FACTOR) return 'flood';
    return entry.count === this.limit + 1 ? 'limited_first' : 'limited';
  }

  /** Stops the tick (the limiter allows nothing new afterwards than its current windows). */
  close(): void {
    clearInterval(this.tick);
  }
}
