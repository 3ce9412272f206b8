import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine } from '@switchboard/engine';
import { analyticsEventOps } from '@switchboard/state';
import { StatsCache } from '../src/stats-cache.js';

const START = Date.UTC(2026, 0, 10, 12, 0, 0);
let commits = 0;

async function ingest(engine: MemoryEngine, visitor: string): Promise<void> {
  commits += 1;
  await engine.commit({
    guard: { kind: 'once', key: `stats-cache-test-${commits}`, ttlS: 60 },
    ops: analyticsEventOps({ type: 'page_view', visitor_id: visitor }, Date.now()),
  });
}

describe('StatsCache', () => {
  let engine: MemoryEngine;

  beforeEach(async () => {
    // Only Date is faked: promises and the engine's own timers run normally.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(START);
    engine = new MemoryEngine();
    await engine.connect();
  });

  afterEach(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    await engine.close();
  });

  it('reads the figures from the engine', async () => {
    await ingest(engine, 'a');
    await ingest(engine, 'b');
    await ingest(engine, 'a');
    const stats = await new StatsCache(engine).get();
    expect(stats).toEqual({
      current_visitors: 2,
      unique_today: 2,
      total_events: 3,
      letters_today: 0,
      timestamp: Math.floor(START / 1000),
    });
  });

  it('makes concurrent get() calls share one engine read', async () => {
    await ingest(engine, 'a');
    const read = vi.spyOn(engine, 'read');
    const cache = new StatsCache(engine);
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.get()));
    expect(read).toHaveBeenCalledTimes(1);
    expect(results.every((s) => s === results[0])).toBe(true);
    expect(results[0]?.total_events).toBe(1);
  });

  it('reuses figures younger than maxAgeMs without reading again', async () => {
    const read = vi.spyOn(engine, 'read');
    const cache = new StatsCache(engine, 1_000);
    const first = await cache.get();
    expect(first.total_events).toBe(0);

    await ingest(engine, 'a');
    vi.setSystemTime(START + 1_000); // exactly maxAgeMs old: still reused
    const second = await cache.get();
    expect(second).toBe(first);
    expect(second.total_events).toBe(0);
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('reads fresh figures once the cached ones are older than maxAgeMs', async () => {
    const read = vi.spyOn(engine, 'read');
    const cache = new StatsCache(engine, 1_000);
    expect((await cache.get()).total_events).toBe(0);

    await ingest(engine, 'a');
    vi.setSystemTime(START + 1_001);
    const fresh = await cache.get();
    expect(read).toHaveBeenCalledTimes(2);
    expect(fresh.total_events).toBe(1);
    expect(fresh.current_visitors).toBe(1);
    expect(fresh.timestamp).toBe(Math.floor((START + 1_001) / 1000));

    // ...and those are cached in turn.
    expect(await cache.get()).toBe(fresh);
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('uses a 100 ms window by default', async () => {
    const read = vi.spyOn(engine, 'read');
    const cache = new StatsCache(engine);
    await cache.get();
    vi.setSystemTime(START + 100);
    await cache.get();
    expect(read).toHaveBeenCalledTimes(1);
    vi.setSystemTime(START + 101);
    await cache.get();
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('does not cache a failed read: callers sharing it fail, the next call retries', async () => {
    const read = vi.spyOn(engine, 'read').mockRejectedValueOnce(new Error('redis down'));
    const cache = new StatsCache(engine, 60_000);
    const shared = [cache.get(), cache.get()];
    await expect(shared[0]).rejects.toThrow('redis down');
    await expect(shared[1]).rejects.toThrow('redis down');
    expect(read).toHaveBeenCalledTimes(1);

    await ingest(engine, 'a');
    expect((await cache.get()).total_events).toBe(1);
    expect(read).toHaveBeenCalledTimes(2);
  });
});

describe('StatsCache.invalidate', () => {
  it('makes the next get() read afresh, and never caches a read that started before it', async () => {
    const engine = new MemoryEngine();
    let reads = 0;
    const read = engine.read.bind(engine);
    engine.read = async (r) => {
      reads += 1;
      return read(r);
    };
    const cache = new StatsCache(engine, 60_000);
    const before = cache.get();
    cache.invalidate(); // a change arrives while the first read is in flight
    await engine.commit({ guard: { kind: 'once', key: 'k1', ttlS: 60 }, ops: [{ op: 'incr', key: 'sb:analytics:total_events' }] });
    expect((await before).total_events).toBe(0);
    expect((await cache.get()).total_events).toBe(1);
    expect(reads).toBe(2);
    expect((await cache.get()).total_events).toBe(1); // cached again from here on
    expect(reads).toBe(2);
  });
});
