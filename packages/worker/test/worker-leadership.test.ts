import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '@switchboard/config';
import { MemoryEngine } from '@switchboard/engine';
import { CHANNELS } from '@switchboard/protocol';
import { createWorker, type Worker } from '../src/worker.js';

const logger = pino({ level: 'silent' });
const INTERVAL_MS = 1_000;

describe('two workers on one memory engine: heartbeat and log-metrics leadership', () => {
  let engine: MemoryEngine;
  const workers: Worker[] = [];
  /** Every frame published, with the time it was seen. */
  const seen: { channel: string; type: string; at: number }[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_800_000_000_300 });
    engine = new MemoryEngine();
    await engine.connect();
    seen.length = 0;
    for (const channel of [CHANNELS.analytics, CHANNELS.logsMetrics]) {
      await engine.subscribe(channel, (m) => seen.push({ channel, type: (JSON.parse(m.frame) as { type: string }).type, at: Date.now() }));
    }
  });
  afterEach(async () => {
    const stopping = Promise.all(workers.splice(0).map((w) => w.stop()));
    await vi.advanceTimersByTimeAsync(2_000);
    await stopping;
    await engine.close();
    vi.useRealTimers();
  });

  const start = (node: string) => {
    const config = loadConfig({ NODE_ID: node, HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS), LOG_METRICS_INTERVAL_MS: String(INTERVAL_MS) });
    const registry = new Registry();
    const worker = createWorker({ config, engine, logger, registry });
    worker.start();
    workers.push(worker);
    return { worker, registry };
  };
  const beats = () => seen.filter((f) => f.type === 'heartbeat');
  const pushes = () => seen.filter((f) => f.channel === CHANNELS.logsMetrics);
  const gauge = async (registry: Registry, name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;

  it('publishes one heartbeat and one metrics push per interval whatever the number of workers', async () => {
    const a = start('a');
    await vi.advanceTimersByTimeAsync(10);
    const b = start('b');
    await vi.advanceTimersByTimeAsync(20 * INTERVAL_MS);
    expect([a.worker.isHeartbeatLeader(), b.worker.isHeartbeatLeader()]).toEqual([true, false]);
    expect(await gauge(a.registry, 'switchboard_worker_heartbeat_leader')).toBe(1);
    expect(await gauge(b.registry, 'switchboard_worker_heartbeat_leader')).toBe(0);
    // The catch-up on acquiring, then one per boundary: 21 slots in 20 intervals and 300 ms.
    expect(beats()).toHaveLength(21);
    expect(pushes()).toHaveLength(21);
  });

  it('hands both over when the leader stops: no slot doubled, none skipped', async () => {
    const a = start('a');
    await vi.advanceTimersByTimeAsync(10);
    start('b');
    await vi.advanceTimersByTimeAsync(5 * INTERVAL_MS + 500);
    const first = beats()[0]!.at;
    // The stop resolves once the blocked read in hand returns (the fake clock runs meanwhile).
    const stopped = workers.shift()!.stop();
    expect(a.worker.isHeartbeatLeader()).toBe(false);
    await vi.advanceTimersByTimeAsync(10 * INTERVAL_MS);
    await stopped;
    expect(workers[0]!.isHeartbeatLeader()).toBe(true);
    // (The first beat is a catch-up at start.) One per slot across the handover, none skipped: the slot left when the leader stopped is
    // beaten by the other as it takes over (at its next renewal, a quarter interval at most).
    const at = beats().map((f) => f.at);
    const slots = at.map((t) => Math.floor(t / INTERVAL_MS));
    expect(slots).toEqual(Array.from({ length: slots.length }, (_, i) => slots[0]! + i));
    expect(Math.max(...at.slice(1).map((t) => t % INTERVAL_MS))).toBeLessThanOrEqual(INTERVAL_MS / 4);
    expect(at.length).toBe(Math.floor((Date.now() - first) / INTERVAL_MS) + 1);
    expect(pushes().length).toBe(at.length);
  });
});
