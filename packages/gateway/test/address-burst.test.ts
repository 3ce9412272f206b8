import { describe, expect, it } from 'vitest';
import { AddressLimits } from '../src/ws/address-limits.js';

/** A clock the test moves by hand (ms). */
const manualClock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

const spend = (limits: AddressLimits, key: string, times: number): number => {
  let allowed = 0;
  for (let i = 0; i < times; i++) if (limits.spendUpgrade(key) === undefined) allowed += 1;
  return allowed;
};

describe('AddressLimits: the per-address upgrade token bucket', () => {
  it('lets the rate plus the burst in at once, refuses past them with Retry-After, and refills at the rate', () => {
    const clock = manualClock();
    const limits = new AddressLimits(0, 2, 4, clock.now);
    expect(spend(limits, 'nat', 6)).toBe(6);
    expect(limits.spendUpgrade('nat')).toEqual({ reason: 'rate_limited', message: expect.stringMatching(/at most 2 per second after a burst of 4/) as unknown, retryAfterS: 1 });
    // Another address has its own bucket.
    expect(spend(limits, 'other', 6)).toBe(6);
    // Tokens come back at the rate: one every 500 ms, whatever the refusals in between.
    clock.advance(499);
    expect(spend(limits, 'nat', 1)).toBe(0);
    clock.advance(1);
    expect(spend(limits, 'nat', 2)).toBe(1);
    clock.advance(1_000);
    expect(spend(limits, 'nat', 3)).toBe(2);
    // Full again after (rate + burst) ÷ rate = 3 s, and no fuller.
    clock.advance(60_000);
    expect(spend(limits, 'nat', 7)).toBe(6);
  });

  it("answers Retry-After with the bucket's own refill time, in whole seconds", () => {
    const clock = manualClock();
    // One upgrade every 4 s: an emptied bucket has its next token 4 s later.
    const limits = new AddressLimits(0, 0.25, 0, clock.now);
    expect(limits.spendUpgrade('a')).toBeUndefined();
    expect(limits.spendUpgrade('a')?.retryAfterS).toBe(4);
    clock.advance(2_500);
    expect(limits.spendUpgrade('a')?.retryAfterS).toBe(2); // 1.5 s left, rounded up
    clock.advance(1_500);
    expect(limits.spendUpgrade('a')).toBeUndefined();
    // Never 0: a client told "Retry-After: 0" would come straight back.
    const fast = new AddressLimits(0, 200, 0, clock.now);
    expect(spend(fast, 'a', 200)).toBe(200);
    expect(fast.spendUpgrade('a')?.retryAfterS).toBe(1);
  });

  it('absorbs 1,000 upgrades from one address at once with the shipped rate and burst', () => {
    const limits = new AddressLimits(1_000, 200, 1_000, manualClock().now);
    expect(spend(limits, 'office', 1_000)).toBe(1_000);
  });

  it('without a burst is the plain rate', () => {
    const clock = manualClock();
    const limits = new AddressLimits(0, 3, 0, clock.now);
    expect(spend(limits, 'a', 5)).toBe(3);
    clock.advance(1_000);
    expect(spend(limits, 'a', 5)).toBe(3);
  });

  it('forgets the buckets that filled up again, so the map holds only recent addresses', () => {
    const clock = manualClock();
    const limits = new AddressLimits(0, 10, 10, clock.now);
    for (let i = 0; i < 1_000; i++) limits.spendUpgrade(`198.51.${i >> 8}.${i & 255}`);
    expect(limits.trackedAddresses).toBe(1_000);
    clock.advance(1_999);
    limits.spendUpgrade('late');
    expect(limits.trackedAddresses).toBe(1_001);
    clock.advance(1);
    // 2 s after its last upgrade every early bucket is full: the next call sweeps them.
    limits.spendUpgrade('latest');
    expect(limits.trackedAddresses).toBe(2);
  });

  it('counts a clock that went back as no time passed', () => {
    const clock = manualClock();
    const limits = new AddressLimits(0, 1, 0, clock.now);
    expect(limits.spendUpgrade('a')).toBeUndefined();
    clock.advance(-10_000);
    expect(limits.spendUpgrade('a')?.reason).toBe('rate_limited');
  });

  it('refuses a negative rate or burst', () => {
    expect(() => new AddressLimits(0, -1)).toThrow(RangeError);
    expect(() => new AddressLimits(0, 1, Number.NaN)).toThrow(RangeError);
  });
});
