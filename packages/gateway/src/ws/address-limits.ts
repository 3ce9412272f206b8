import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** Why an address was turned away, as counted in `switchboard_ws_upgrades_refused_total{reason}`. */
export interface AddressRefusal {
  reason: 'rate_limited' | 'per_address';
  message: string;
  /** Seconds until the rate window frees up (the `Retry-After` header). */
  retryAfterS: number | undefined;
}

/**
 * Per client address (see `limitKey`): at most `maxPerAddress` open connections on this node and
 * `ratePerS` new WebSocket upgrades or Socket.IO handshakes per second, so that one address
 * cannot take every MAX_CONNECTIONS slot. 0 turns either off.
 *
 * On top of the rate, `burst` more upgrades may come at once (rate-limiter-flexible's bursty
 * limiter: a second bucket of `burst` tokens that refills over burst ÷ rate seconds), so a
 * gateway's clients moving over together from behind one NAT are let in rather than refused.
 */
export class AddressLimits {
  private readonly open = new Map<string, number>();
  private readonly limiter: RateLimiterMemory | BurstyRateLimiter | undefined;

  constructor(
    private readonly maxPerAddress: number,
    private readonly ratePerS: number,
    private readonly burst = 0,
  ) {
    if (ratePerS <= 0) return;
    const rate = new RateLimiterMemory({ keyPrefix: 'upgrades', points: ratePerS, duration: 1 });
    if (burst <= 0) this.limiter = rate;
    else {
      const refillS = Math.max(1, Math.ceil(burst / ratePerS));
      this.limiter = new BurstyRateLimiter(rate, new RateLimiterMemory({ keyPrefix: 'upgrade-burst', points: burst, duration: refillS }));
    }
  }

  /** Spends one of the address's upgrades for this second; a refusal once they are used up. */
  async spendUpgrade(key: string): Promise<AddressRefusal | undefined> {
    if (!this.limiter) return undefined;
    try {
      await this.limiter.consume(key);
      return undefined;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return {
        reason: 'rate_limited',
        message: `too many connection attempts from your address: at most ${this.ratePerS} per second${this.burst > 0 ? ` after a burst of ${this.burst}` : ''}`,
        retryAfterS: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
      };
    }
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
