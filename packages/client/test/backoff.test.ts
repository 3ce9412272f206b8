import { describe, expect, it } from 'vitest';
import { backoffDelay, restartDelay } from '../src/core/backoff.js';

const options = { initialDelayMs: 100, maxDelayMs: 5_000 };

describe('backoffDelay (exponential, full jitter, capped)', () => {
  it('bounds the delay by initial * 2^attempt', () => {
    const top = () => 0.999_999;
    expect([0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, options, top))).toEqual([99, 199, 399, 799, 1599, 3199]);
  });

  it('never exceeds the cap, however many attempts', () => {
    for (const attempt of [6, 10, 31, 1_000, Number.MAX_SAFE_INTEGER]) expect(backoffDelay(attempt, options, () => 0.999_999)).toBe(4999);
  });

  it('draws uniformly from zero up to the bound (full jitter)', () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(400);
    const samples = Array.from({ length: 2_000 }, () => backoffDelay(4, options));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(1600);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(600);
    expect(mean).toBeLessThan(1000);
  });

  it('treats negative or fractional attempts as whole attempts from 0', () => {
    expect(backoffDelay(-3, options, () => 0.5)).toBe(50);
    expect(backoffDelay(1.7, options, () => 0.5)).toBe(100);
  });
});

describe('restartDelay (close 1012)', () => {
  it('is immediate but spread over the jitter window', () => {
    expect(restartDelay({ restartJitterMs: 1_000 }, () => 0)).toBe(0);
    expect(restartDelay({ restartJitterMs: 1_000 }, () => 0.25)).toBe(250);
    expect(restartDelay({ restartJitterMs: 1_000 }, () => 0.999_999)).toBe(999);
  });
});
