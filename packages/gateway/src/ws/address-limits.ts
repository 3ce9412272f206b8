/** Why an address was turned away, as counted in `switchboard_ws_upgrades_refused_total{reason}`. */
export interface AddressRefusal {
  reason: 'rate_limited' | 'per_address';
  message: string;
  /** Whole seconds until the address has an upgrade again (the `Retry-After` header). */
  retryAfterS: number | undefined;
}

/** An address's bucket: the tokens it held at `at` (ms on the limiter's clock). */
interface Bucket {
  tokens: number;
  at: number;
}

/** A monotonic clock in milliseconds. Injected in tests. */
export type Clock = () => number;

/**
 * Per client address (see `limitKey`): at most `maxPerAddress` open connections on this node and
 * `ratePerS` new WebSocket upgrades or Socket.IO handshakes per second, so that one address
 * cannot take every MAX_CONNECTIONS slot. 0 turns either off.
 *
 * The rate is a token bucket per address holding `ratePerS + burst` tokens (at least 1), refilling at
 * `ratePerS` per second: a gateway's clients moving over together from behind one NAT are let in
 * at once, and an address hammering steadily gets the rate. Decided synchronously on the upgrade
 * path (no promise, no timer per address); a refusal's `Retry-After` is the time until the
 * bucket holds a token again, rounded up to whole seconds.
 */
export class AddressLimits {
  private readonly open = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  /** How long an emptied bucket takes to fill up (after which it need not be kept). */
  private readonly refillMs: number;
  private lastSweep: number;

  constructor(
    private readonly maxPerAddress: number,
    private readonly ratePerS: number,
    private readonly burst = 0,
    private readonly now: Clock = () => performance.now(),
  ) {
    if (!(ratePerS >= 0) || !(burst >= 0)) throw new RangeError(`upgrade rate and burst must be 0 or more, got ${ratePerS}/s and ${burst}`);
    // At least one whole token, or a rate under 1/s would admit nothing.
    this.capacity = Math.max(1, ratePerS + burst);
    this.refillMs = ratePerS > 0 ? (this.capacity / ratePerS) * 1000 : 0;
    this.lastSweep = now();
  }

  /** Spends one of the address's upgrades; a refusal with `Retry-After` when its bucket is empty. */
  spendUpgrade(key: string): AddressRefusal | undefined {
    if (this.ratePerS <= 0) return undefined;
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key);
    // A clock that went back counts as no time passed.
    const tokens = bucket === undefined ? this.capacity : Math.min(this.capacity, bucket.tokens + (Math.max(0, now - bucket.at) * this.ratePerS) / 1000);
    if (tokens >= 1) {
      if (bucket === undefined) this.buckets.set(key, { tokens: tokens - 1, at: now });
      else {
        bucket.tokens = tokens - 1;
        bucket.at = now;
      }
      return undefined;
    }
    if (bucket !== undefined) {
      bucket.tokens = tokens;
      bucket.at = now;
    }
    return {
      reason: 'rate_limited',
      message: `too many connection attempts from your address: at most ${this.ratePerS} per second${this.burst > 0 ? ` after a burst of ${this.burst}` : ''}`,
      retryAfterS: Math.max(1, Math.ceil((1 - tokens) / this.ratePerS)),
    };
  }

  /** Addresses tracked by the rate (those whose bucket is not full). */
  get trackedAddresses(): number {
    return this.buckets.size;
  }

  /**
   * Forgets the buckets that have filled up since (a full bucket is the same as none), at most
   * once per refill time: the map holds only addresses that connected lately, at O(1) amortized.
   */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.refillMs) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= this.refillMs) this.buckets.delete(key);
  }

  /**
   * A refusal when the address already holds its share of connections. Call it synchronously
   * right before accepting, so the count cannot move in between.
   */
  capacityFor(key: string): AddressRefusal | undefined {
    if (this.maxPerAddress === 0 || this.connectionsOf(key) < this.maxPerAddress) return undefined;
    return {
      reason: 'per_address',
      message: `too many connections from your address: at most ${this.maxPerAddress} (MAX_CONNECTIONS_PER_ADDRESS)`,
      retryAfterS: undefined,
    };
  }

  connectionsOf(key: string): number {
    return this.open.get(key) ?? 0;
  }

  opened(key: string): void {
    this.open.set(key, this.connectionsOf(key) + 1);
  }

  closed(key: string): void {
    const left = this.connectionsOf(key) - 1;
    // Addresses without connections are forgotten: the map holds only current clients.
    if (left > 0) this.open.set(key, left);
    else this.open.delete(key);
  }
}
