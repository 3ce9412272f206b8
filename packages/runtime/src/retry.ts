/** Exponential backoff: `initialMs`, then doubling, capped at `maxMs`. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** The pause before retrying after `failures` consecutive failures (1 = the first). */
export const backoffDelay = (failures: number, { initialMs, maxMs }: BackoffOptions): number =>
  Math.min(initialMs * 2 ** Math.max(0, failures - 1), maxMs);

export interface RetryOptions extends BackoffOptions {
  /**
   * Checked after each failure: when true, the retry gives up and rethrows the last error.
   * Also cuts a pause short: a stopping process does not wait out its backoff.
   */
  signal?: AbortSignal;
  /** Called after each failure with the count of consecutive failures and the pause to come. */
  onFailure?: (err: unknown, failures: number, delayMs: number) => void;
}

/**
 * Runs `attempt` until it resolves, pausing with exponential backoff between failures. Rejects
 * only once `signal` is aborted (with the last error). For work that must eventually happen:
 * an ingest read, an append a broker message waits for.
 */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { signal, onFailure } = options;
  for (let failures = 1; ; failures += 1) {
    try {
      return await attempt();
    } catch (err) {
      if (signal?.aborted) throw err;
      const delayMs = backoffDelay(failures, options);
      onFailure?.(err, failures, delayMs);
      await pause(delayMs, signal);
      if (signal?.aborted) throw err;
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
