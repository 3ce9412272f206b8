/** How a client waits between reconnection attempts. */
export interface BackoffOptions {
  /** Upper bound of the first delay, ms (doubles each attempt). */
  initialDelayMs: number;
  /** Cap of the exponential bound, ms. */
  maxDelayMs: number;
  /**
   * Upper bound of the delay after a 1012 (gateway restarting/draining): reconnect at once, but
   * spread over this window so a node's clients do not all land on the next node together. Half
   * a second: the gateways let an address's burst in (UPGRADE_BURST_PER_ADDRESS), so the spread
   * is for the receiving node's sake, and half of the clients are back within a quarter second.
   */
  restartJitterMs: number;
  /** A connection open this long counts as healthy: the next failure starts from attempt 0. */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  restartJitterMs: 500,
  stableAfterMs: 5_000,
};

/** Uniform random number in [0, 1). Injected in tests. */
export type Random = () => number;

/**
 * Exponential backoff with full jitter (AWS architecture blog): a uniformly random delay
 * between 0 and min(cap, initial * 2^attempt). `attempt` counts from 0.
 */
export function backoffDelay(attempt: number, options: Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>, random: Random = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30); // 2^30 already exceeds any sane cap
  const bound = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  return Math.floor(random() * bound);
}

/** Delay after the server announced a restart (close code 1012): short, jittered. */
export function restartDelay(options: Pick<BackoffOptions, 'restartJitterMs'>, random: Random = Math.random): number {
  return Math.floor(random() * options.restartJitterMs);
}

/**
 * Delay after the server turned an attempt away with `Retry-After: seconds`: at least that long,
 * plus a random share of up to as long again (refused clients do not all return in the same
 * instant), and never shorter than the normal backoff for this attempt. Capped at maxDelayMs
 * (a server asking for more is answered after the cap, then asked again).
 */
export function retryAfterDelay(
  retryAfterS: number,
  options: Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>,
  random: Random = Math.random,
  attempt = 0,
): number {
  const asked = Math.max(0, retryAfterS) * 1000;
  const jittered = Math.floor(asked * (1 + random()));
  return Math.min(options.maxDelayMs, Math.max(jittered, backoffDelay(attempt, options, random)));
}

/** Seconds from a `Retry-After` value (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = /GMT$/.test(trimmed) ? Date.parse(trimmed) : Number.NaN; // an HTTP date is always in GMT
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}
