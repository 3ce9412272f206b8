import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, pause, retry } from '../src/retry.js';

const BACKOFF = { initialMs: 100, maxMs: 1_000 };

describe('backoffDelay', () => {
  it('starts at initialMs, doubles, and stays at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n, BACKOFF))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('treats a count below one as the first failure', () => {
    expect(backoffDelay(0, BACKOFF)).toBe(100);
    expect(backoffDelay(-3, BACKOFF)).toBe(100);
  });
});

describe('retry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves with the first success, pausing with backoff between failures', async () => {
    const attempts: number[] = [];
    const failures: [number, number][] = [];
    const started = Date.now();
    const result = retry(
      async () => {
        attempts.push(Date.now() - started);
        if (attempts.length < 4) throw new Error(`failure ${attempts.length}`);
        return 'done';
      },
      { ...BACKOFF, onFailure: (_err, n, delayMs) => failures.push([n, delayMs]) },
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(result).resolves.toBe('done');
    expect(attempts).toEqual([0, 100, 300, 700]);
    expect(failures).toEqual([
      [1, 100],
      [2, 200],
      [3, 400],
    ]);
  });

  it('does not retry before the pause is over', async () => {
    const attempt = vi.fn().mockRejectedValueOnce(new Error('down')).mockResolvedValue(1);
    const result = retry(attempt, BACKOFF);
    await vi.advanceTimersByTimeAsync(99);
    expect(attempt).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempt).toHaveBeenCalledTimes(2);
    await expect(result).resolves.toBe(1);
  });

  it('keeps trying for as long as it fails, at the capped pace', async () => {
    const attempt = vi.fn().mockRejectedValue(new Error('down'));
    void retry(attempt, { ...BACKOFF, signal: new AbortController().signal }).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 10 * 1_000);
    expect(attempt).toHaveBeenCalledTimes(1 + 4 + 10);
  });

  it('gives up when aborted, at once rather than after the pause, with the last error', async () => {
    const controller = new AbortController();
    let n = 0;
    const result = retry(
      async () => {
        n += 1;
        throw new Error(`failure ${n}`);
      },
      { initialMs: 60_000, maxMs: 60_000, signal: controller.signal },
    );
    const settled = vi.fn();
    result.catch(settled);
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).not.toHaveBeenCalled();
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    await expect(result).rejects.toThrow('failure 1');
    expect(n).toBe(1);
  });

  it('gives up when the signal is aborted from onFailure', async () => {
    const controller = new AbortController();
    const attempt = vi.fn().mockRejectedValue(new Error('gone'));
    const result = retry(attempt, { ...BACKOFF, signal: controller.signal, onFailure: () => controller.abort() });
    await expect(result).rejects.toThrow('gone');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('does not pause at all when already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const attempt = vi.fn().mockRejectedValue(new Error('down'));
    await expect(retry(attempt, { ...BACKOFF, signal: controller.signal })).rejects.toThrow('down');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('pause resolves after its time, and clears its timer when aborted', async () => {
    const done = vi.fn();
    void pause(500).then(done);
    await vi.advanceTimersByTimeAsync(499);
    expect(done).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toHaveBeenCalled();

    const controller = new AbortController();
    const cut = pause(500, controller.signal);
    controller.abort();
    await cut;
    expect(vi.getTimerCount()).toBe(0);
  });
});
