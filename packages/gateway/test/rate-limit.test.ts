import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FLOOD_FACTOR, SocketRateLimiter, type RateVerdict } from '../src/rate-limit.js';

const LIMIT = 10;

describe('SocketRateLimiter', () => {
  let limiter: SocketRateLimiter<object>;
  beforeEach(() => {
    vi.useFakeTimers();
    limiter = new SocketRateLimiter<object>(LIMIT);
  });
  afterEach(() => {
    limiter.close();
    vi.useRealTimers();
  });

  const burst = (socket: object, n: number): RateVerdict[] => Array.from({ length: n }, () => limiter.take(socket));
  const tally = (verdicts: RateVerdict[]) => verdicts.reduce<Record<string, number>>((t, v) => ({ ...t, [v]: (t[v] ?? 0) + 1 }), {});

  it('allows the limit per window, answers the first message over it once, drops the rest, then calls a flood', () => {
    const verdicts = burst({}, LIMIT * FLOOD_FACTOR + 3);
    expect(verdicts.slice(0, LIMIT).every((v) => v === 'allowed')).toBe(true);
    expect(verdicts[LIMIT]).toBe('limited_first');
    expect(verdicts.slice(LIMIT + 1, LIMIT * FLOOD_FACTOR).every((v) => v === 'limited')).toBe(true);
    expect(verdicts.slice(LIMIT * FLOOD_FACTOR)).toEqual(['flood', 'flood', 'flood']);
  });

  it('counts each socket on its own', () => {
    const [a, b] = [{}, {}];
    expect(tally(burst(a, LIMIT + 1))).toEqual({ allowed: LIMIT, limited_first: 1 });
    expect(tally(burst(b, LIMIT))).toEqual({ allowed: LIMIT });
  });

  it('starts every socket over at the shared tick, and not before', () => {
    const [a, b] = [{}, {}];
    burst(a, LIMIT * 2);
    vi.advanceTimersByTime(999);
    expect(limiter.take(a)).toBe('limited');
    vi.advanceTimersByTime(1);
    // A new window for both sockets, however many messages either sent before.
    expect(tally(burst(a, LIMIT + 1))).toEqual({ allowed: LIMIT, limited_first: 1 });
    expect(tally(burst(b, LIMIT + 1))).toEqual({ allowed: LIMIT, limited_first: 1 });
  });

  it('allows a steady client at the limit forever, over many windows', () => {
    const socket = {};
    for (let window = 0; window < 60; window += 1) {
      expect(tally(burst(socket, LIMIT)), `window ${window}`).toEqual({ allowed: LIMIT });
      vi.advanceTimersByTime(1_000);
    }
  });

  it('lets a flooding socket start over in the next window (the caller disconnects it meanwhile)', () => {
    const socket = {};
    expect(burst(socket, LIMIT * FLOOD_FACTOR + 1).at(-1)).toBe('flood');
    vi.advanceTimersByTime(1_000);
    expect(limiter.take(socket)).toBe('allowed');
  });

  it('keeps one timer whatever the number of sockets and messages', () => {
    const before = vi.getTimerCount();
    for (let i = 0; i < 1_000; i += 1) burst({}, 3);
    expect(vi.getTimerCount()).toBe(before);
    limiter.close();
    expect(vi.getTimerCount()).toBe(before - 1);
  });

  it('honours another window length', () => {
    const slow = new SocketRateLimiter<object>(2, 5_000);
    const socket = {};
    expect([slow.take(socket), slow.take(socket), slow.take(socket)]).toEqual(['allowed', 'allowed', 'limited_first']);
    vi.advanceTimersByTime(4_999);
    expect(slow.take(socket)).toBe('limited');
    vi.advanceTimersByTime(1);
    expect(slow.take(socket)).toBe('allowed');
    slow.close();
  });

  it('refuses a limit or window that is not positive', () => {
    expect(() => new SocketRateLimiter(0)).toThrow(RangeError);
    expect(() => new SocketRateLimiter(10, 0)).toThrow(RangeError);
    expect(() => new SocketRateLimiter(Number.NaN)).toThrow(RangeError);
  });
});
