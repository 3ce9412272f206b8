import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withTimeout } from '../src/async.js';

describe('withTimeout', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('settles with the promise when it settles in time, and clears its timer', async () => {
    const result = withTimeout(Promise.resolve('done'), 1_000, 'late');
    await expect(result).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('settles with the fallback once the time is up', async () => {
    const result = withTimeout(new Promise<string>(() => undefined), 1_000, 'late');
    await vi.advanceTimersByTimeAsync(999);
    let settled = false;
    void result.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('late');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects when the promise rejects before the deadline', async () => {
    const result = withTimeout(Promise.reject(new Error('redis away')), 1_000, undefined);
    await expect(result).rejects.toThrow('redis away');
    expect(vi.getTimerCount()).toBe(0);
  });
});
