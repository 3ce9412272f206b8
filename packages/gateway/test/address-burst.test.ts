import { afterEach, describe, expect, it, vi } from 'vitest';
import { AddressLimits } from '../src/ws/address-limits.js';

const spend = async (limits: AddressLimits, key: string, times: number): Promise<number> => {
  let allowed = 0;
  for (let i = 0; i < times; i++) if ((await limits.spendUpgrade(key)) === undefined) allowed += 1;
  return allowed;
};

describe('AddressLimits with a burst (fake timers)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets the rate plus the burst in at once, refuses past them with Retry-After, and refills the burst at the rate', async () => {
    vi.useFakeTimers();
    const limits = new AddressLimits(0, 2, 4);
    expect(await spend(limits, 'nat', 6)).toBe(6);
    expect(await limits.spendUpgrade('nat')).toEqual({ reason: 'rate_limited', message: expect.stringMatching(/at most 2 per second after a burst of 4/) as unknown, retryAfterS: 1 });
    // Another address has its own buckets.
    expect(await spend(limits, 'other', 6)).toBe(6);
    // One second later only the rate is back: the burst refills over 4 ÷ 2 = 2 seconds.
    await vi.advanceTimersByTimeAsync(1_050);
    expect(await spend(limits, 'nat', 3)).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await spend(limits, 'nat', 7)).toBe(6);
  });

  it('absorbs 1,000 upgrades from one address at once with the shipped rate and burst', async () => {
    vi.useFakeTimers();
    const limits = new AddressLimits(1_000, 200, 1_000);
    expect(await spend(limits, 'office', 1_000)).toBe(1_000);
  });

  it('without a burst is the plain rate', async () => {
    vi.useFakeTimers();
    const limits = new AddressLimits(0, 3, 0);
    expect(await spend(limits, 'a', 5)).toBe(3);
  });
});
