import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@switchboard/engine';
import { socketIoChannel } from '@switchboard/protocol';
import { createWorkerMetrics } from '../src/metrics.js';
import { EntryProcessor } from '../src/processor.js';

const logger = pino({ level: 'silent' });
const CONSUMER = 'w1';

describe('EntryProcessor: order of commits', () => {
  let engine: MemoryEngine;
  beforeEach(async () => {
    engine = new MemoryEngine();
    await engine.connect();
  });
  afterEach(() => engine.close());

  it("publishes a channel's frames in stream order even when an earlier entry reads state first", async () => {
    const frames: string[] = [];
    await engine.subscribe(socketIoChannel('/'), (m) => frames.push(m.frame));
    let n = 0;
    const job = (type: string, ownerId?: string) =>
      engine.appendIngest({
        kind: 'job',
        id: `01a200f1-62d5-72c1-a1a7-cc7260cb322${n++}`,
        at: String(Date.now()),
        body: JSON.stringify({ jobId: 'j1', type, ...(ownerId === undefined ? {} : { ownerId }) }),
      });
    // The first names an owner (the product reads the current owner first), the others do not.
    await job('job_started', 'alice');
    await job('job_completed');
    await job('job_failed');
    const entries = await engine.readIngest(CONSUMER, 10, 0);
    expect(entries).toHaveLength(3);

    const processor = new EntryProcessor(engine, CONSUMER, createWorkerMetrics(new Registry(), engine), logger, { logHistoryLimit: 100 });
    await processor.processAll(entries);

    const types = frames.map((f) => /job_(started|completed|failed)/.exec(f)?.[0]).filter((t) => t !== undefined);
    expect(types).toEqual(['job_started', 'job_completed', 'job_failed']);
    const offsets = frames.map((f) => (JSON.parse(f) as { offset?: number }).offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect((await engine.ingestBacklog()).pending).toBe(0);
  });
});
