import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '../src/analytics/client.js';
import { parseRetryAfter, retryAfterDelay } from '../src/core/backoff.js';
import { startLocalServer, until } from './local-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('retryAfterDelay', () => {
  const options = { initialDelayMs: 100, maxDelayMs: 30_000 };

  it('waits at least the Retry-After, plus up to as long again at random', () => {
    expect(retryAfterDelay(1, options, () => 0)).toBe(1_000);
    expect(retryAfterDelay(1, options, () => 0.5)).toBe(1_500);
    expect(retryAfterDelay(2, options, () => 0.999)).toBe(3_998);
  });

  it('is never shorter than the normal backoff, nor longer than the cap', () => {
    expect(retryAfterDelay(0, { initialDelayMs: 500, maxDelayMs: 30_000 }, () => 0.5, 3)).toBe(2_000);
    expect(retryAfterDelay(3_600, options, () => 0)).toBe(30_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Fri, 04 Dec 2026 12:00:05 GMT', now)).toBe(5);
    expect(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, null, '', 'soon', '-1', '1.5']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});

describe('a 429 with Retry-After at the upgrade (ws package)', () => {
  it('waits the server-given time (with jitter) instead of the short backoff, then connects', async () => {
    const refusedAt: number[] = [];
    const server = await startLocalServer({
      refuse: () => {
        if (refusedAt.length >= 2) return undefined;
        refusedAt.push(Date.now());
        return { status: 429, headers: { 'Retry-After': '1' } };
      },
    });
    cleanups.push(server.close);
    const client = new AnalyticsClient({ url: server.url, WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 10_000 } });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    cleanups.push(() => client.close());
    await until(() => client.state === 'open', 'open after the refusals', 15_000);
    const openedAt = Date.now();
    expect(refusedAt).toHaveLength(2);
    // Each wait is at least the asked second (the normal backoff would be under 40 ms).
    expect(refusedAt[1]! - refusedAt[0]!).toBeGreaterThanOrEqual(950);
    expect(openedAt - refusedAt[1]!).toBeGreaterThanOrEqual(950);
    expect(openedAt - refusedAt[1]!).toBeLessThan(8_000);
    expect(errors).toEqual([]); // a rate refusal is not an auth failure
  });

  it('still treats a 401 as refused credentials', async () => {
    const server = await startLocalServer({ refuse: () => 401 });
    cleanups.push(server.close);
    const client = new AnalyticsClient({ url: server.url, WebSocket, token: 'bad', reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    cleanups.push(() => client.close());
    await until(() => client.state === 'closed' && errors.length > 0, 'the refusal');
    expect(errors[0]?.message).toBe('Authentication failed (HTTP 401/403 at the upgrade)');
    expect(server.attempts()).toBe(0);
  });
});
