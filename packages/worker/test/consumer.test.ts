import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine, type Engine } from '@switchboard/engine';
import { CHANNELS, envelopeFields, newEventId } from '@switchboard/protocol';
import { readAnalyticsStats } from '@switchboard/state';
import { IngestConsumer, type ConsumerOptions } from '../src/consumer.js';
import { createWorkerMetrics, type WorkerMetrics } from '../src/metrics.js';
import { EntryProcessor } from '../src/processor.js';

const logger = pino({ level: 'silent' });
const ALIVE_TTL_MS = 3_000;
const CLAIM_IDLE_MS = 30_000;

const analytics = (visitor: string) =>
  envelopeFields({ kind: 'analytics', id: newEventId(), at: Date.now(), body: JSON.stringify({ type: 'page_view', visitor_id: visitor }) });

/**
 * An engine that fails every call while `down` is set (Redis unreachable), counting the calls
 * refused, announcements aside: each is one attempt of the consumer's loop.
 */
function flaky(engine: Engine): { engine: Engine; setDown: (down: boolean) => void; refused: () => number } {
  let down = false;
  let refused = 0;
  const proxy = new Proxy(engine, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!down) return (value as (...a: unknown[]) => unknown).apply(target, args);
        if (prop !== 'announceConsumer') refused += 1;
        return Promise.reject(new Error('connection lost'));
      };
    },
  });
  return { engine: proxy, setDown: (d) => (down = d), refused: () => refused };
}

describe('IngestConsumer on the memory engine', () => {
  let engine: MemoryEngine;
  let metrics: WorkerMetrics;
  let registry: Registry;
  const consumers: IngestConsumer[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
    engine = new MemoryEngine();
    await engine.connect();
    registry = new Registry();
    metrics = createWorkerMetrics(registry, engine);
  });
  afterEach(async () => {
    const stopping = Promise.all(consumers.splice(0).map((c) => c.stop()));
    await vi.advanceTimersByTimeAsync(2_000);
    await stopping;
    await engine.close();
    vi.useRealTimers();
  });

  const consumer = (name: string, on: Engine = engine, options: Partial<ConsumerOptions> = {}) => {
    const processor = new EntryProcessor(on, name, metrics, logger, { logHistoryLimit: 100 });
    const c = new IngestConsumer(on, processor, { consumer: name, claimIdleMs: CLAIM_IDLE_MS, aliveTtlMs: ALIVE_TTL_MS, ...options }, metrics, logger);
    consumers.push(c);
    return c;
  };
  const counter = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
  const totalEvents = async () => (await readAnalyticsStats(engine, Date.now())).total_events;

  it('reads, applies and acknowledges what is appended, and publishes each event', async () => {
    const frames: string[] = [];
    await engine.subscribe(CHANNELS.analytics, (m) => frames.push(m.frame));
    const c = consumer('w1');
    c.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(c.isConsuming).toBe(true);
    for (let i = 0; i < 5; i += 1) await engine.appendIngest(analytics(`v${i}`));
    await vi.advanceTimersByTimeAsync(50);
    expect(await totalEvents()).toBe(5);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 0 });
    expect(frames.filter((f) => f.includes('"page_view"'))).toHaveLength(5);
    expect(await counter('switchboard_worker_events_processed_total')).toBe(5);
  });

  it('reads the next batch while one commits, commits the batches in stream order, and processes the batch read ahead before it stops', async () => {
    const frames: string[] = [];
    await engine.subscribe(CHANNELS.analytics, (m) => frames.push(m.frame));
    const reads = vi.spyOn(engine, 'readIngest');
    const commits = vi.spyOn(engine, 'commitBatch');
    for (let i = 0; i < 450; i += 1) await engine.appendIngest(analytics(`v${i}`));
    // Batches as read (no gather pause): the batch boundaries below are the reads'.
    const c = consumer('w1', engine, { gatherMs: 0 });
    c.start();
    await vi.advanceTimersByTimeAsync(50);
    expect(await totalEvents()).toBe(450);
    // 200, 200, 50, then the read ahead of the last batch finds nothing: a waiting read follows.
    expect(commits.mock.calls.map(([batch]) => batch.length)).toEqual([200, 200, 50]);
    expect(reads.mock.calls.slice(0, 4).map(([, , blockMs]) => blockMs)).toEqual([0, 0, 0, 0]);
    expect(reads.mock.calls[4]?.[2]).toBeGreaterThan(0);
    const visitors = frames.map((f) => (JSON.parse(f) as { visitor_id: string }).visitor_id);
    expect(visitors).toEqual(Array.from({ length: 450 }, (_, i) => `v${i}`));

    // Stopped while a batch commits: the batch read ahead meanwhile is processed too, not left pending.
    for (let i = 0; i < 300; i += 1) await engine.appendIngest(analytics(`w${i}`));
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const commitBatch = engine.commitBatch.bind(engine);
    commits.mockImplementationOnce(async (batch) => {
      await held;
      return commitBatch(batch);
    });
    await vi.advanceTimersByTimeAsync(1_100); // the waiting read returns the first 200
    const stopped = c.stop();
    release();
    await vi.advanceTimersByTimeAsync(2_000);
    await stopped;
    consumers.splice(consumers.indexOf(c), 1);
    expect(await totalEvents()).toBe(750);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 0 });
  });

  it('lets the next batch gather under load: a batch of gatherFrom entries or more waits gatherMs before it commits, a lone entry does not', async () => {
    const commits = vi.spyOn(engine, 'commitBatch');
    await engine.appendIngest(analytics('lone'));
    const c = consumer('w1', engine, { gatherMs: 20, gatherFrom: 4 });
    c.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(commits.mock.calls.map(([batch]) => batch.length)).toEqual([1]);

    await Promise.all(Array.from({ length: 6 }, (_, i) => engine.appendIngest(analytics(`v${i}`))));
    // Read at once (the read ahead of the lone entry's batch, or the waiting read), held 20 ms.
    await vi.advanceTimersByTimeAsync(10);
    expect(commits.mock.calls.map(([batch]) => batch.length)).toEqual([1]);
    // What arrives meanwhile joins the next batch, read with this one's commit.
    await Promise.all(Array.from({ length: 3 }, (_, i) => engine.appendIngest(analytics(`v${6 + i}`))));
    await vi.advanceTimersByTimeAsync(15);
    expect(commits.mock.calls.map(([batch]) => batch.length)).toEqual([1, 6, 3]);
    expect(await totalEvents()).toBe(10);
  });

  it('dead-letters an invalid entry and carries on', async () => {
    const c = consumer('w1');
    c.start();
    await engine.appendIngest({ kind: 'analytics', body: '{"type":' });
    await engine.appendIngest(analytics('v1'));
    await vi.advanceTimersByTimeAsync(50);
    expect(await totalEvents()).toBe(1);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 0 });
    expect((await registry.getSingleMetric('switchboard_worker_events_failed_total')!.get()).values).toEqual([
      expect.objectContaining({ labels: { kind: 'analytics', reason: 'invalid' }, value: 1 }),
    ]);
  });

  it('takes over the entries of a consumer that stopped announcing, once its announcement ran out', async () => {
    // A worker that announced itself, read three entries and died before committing them.
    await engine.announceConsumer('dead', ALIVE_TTL_MS);
    for (let i = 0; i < 3; i += 1) await engine.appendIngest(analytics(`v${i}`));
    expect(await engine.readIngest('dead', 10, 0)).toHaveLength(3);

    const c = consumer('w1');
    c.start();
    await vi.advanceTimersByTimeAsync(ALIVE_TTL_MS - 100);
    // Still announced alive: its entries are left alone.
    expect(await totalEvents()).toBe(0);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 3 });

    // Taken over within a third of the announcement's lifetime after it ran out, long before claimIdleMs.
    await vi.advanceTimersByTimeAsync(100 + ALIVE_TTL_MS / 3 + 50);
    expect(await totalEvents()).toBe(3);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 0 });
    expect(await counter('switchboard_worker_takeovers_total')).toBe(1);
    expect(await counter('switchboard_worker_entries_taken_over_total')).toBe(3);
  });

  it('claims entries idle for claimIdleMs on a consumer that still announces itself but makes no progress', async () => {
    const stuck = setInterval(() => void engine.announceConsumer('stuck', ALIVE_TTL_MS), ALIVE_TTL_MS / 3);
    await engine.announceConsumer('stuck', ALIVE_TTL_MS);
    await engine.appendIngest(analytics('v1'));
    await engine.appendIngest(analytics('v2'));
    expect(await engine.readIngest('stuck', 10, 0)).toHaveLength(2);

    const c = consumer('w1');
    c.start();
    await vi.advanceTimersByTimeAsync(CLAIM_IDLE_MS - 1_000);
    expect(await totalEvents()).toBe(0);
    // Looked at every claimIdleMs / 2: claimed at most that long after the entries turned stale.
    await vi.advanceTimersByTimeAsync(1_000 + CLAIM_IDLE_MS / 2 + 100);
    clearInterval(stuck);
    expect(await totalEvents()).toBe(2);
    expect(await engine.ingestBacklog()).toMatchObject({ pending: 0 });
    expect(await counter('switchboard_worker_takeovers_total')).toBe(0);
  });

  it('leaves a live consumer\'s entries to it: two consumers apply each entry once', async () => {
    const a = consumer('a');
    const b = consumer('b');
    a.start();
    b.start();
    for (let i = 0; i < 40; i += 1) await engine.appendIngest(analytics(`v${i}`));
    await vi.advanceTimersByTimeAsync(10 * ALIVE_TTL_MS);
    expect(await totalEvents()).toBe(40);
    expect(await counter('switchboard_worker_events_processed_total')).toBe(40);
    expect(await counter('switchboard_worker_commits_refused_total')).toBe(0);
    expect(await counter('switchboard_worker_takeovers_total')).toBe(0);
  });

  it('is not consuming while the engine fails, retries with backoff, and catches up once it is back', async () => {
    const { engine: failing, setDown, refused } = flaky(engine);
    const c = consumer('w1', failing);
    c.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(c.isConsuming).toBe(true);

    setDown(true);
    await vi.advanceTimersByTimeAsync(1_100); // the blocked read in hand returns, the next fails
    expect(c.isConsuming).toBe(false);
    await engine.appendIngest(analytics('during'));
    // Backoff 200, 400, 800, 1600, then 2000 each: 4 attempts in the first 3 s, then one per 2 s.
    const before = refused();
    await vi.advanceTimersByTimeAsync(11_000);
    expect(refused() - before).toBeGreaterThanOrEqual(7);
    expect(refused() - before).toBeLessThanOrEqual(9);
    const steady = refused();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(refused() - steady).toBe(5);
    expect(c.isConsuming).toBe(false);

    setDown(false);
    await vi.advanceTimersByTimeAsync(2_100);
    expect(c.isConsuming).toBe(true);
    expect(await totalEvents()).toBe(1);
    // Back to normal: a blocked read per second at most, no retries.
    const after = refused();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(refused()).toBe(after);
  });

  it('stops at once even in the middle of a retry pause, and withdraws its announcement', async () => {
    const { engine: failing, setDown } = flaky(engine);
    const c = consumer('w1', failing);
    c.start();
    await vi.advanceTimersByTimeAsync(10);
    setDown(true);
    await vi.advanceTimersByTimeAsync(20_000); // in the 2 s pauses now
    setDown(false);
    const withdraw = vi.spyOn(engine, 'withdrawConsumer');
    const stopped = vi.fn();
    void c.stop().then(stopped);
    await vi.advanceTimersByTimeAsync(1);
    expect(stopped).toHaveBeenCalled();
    expect(withdraw).toHaveBeenCalledWith('w1');
    consumers.splice(consumers.indexOf(c), 1);
  });
});
