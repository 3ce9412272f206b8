import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryEngine, RedisEngine, requeueDeadLetter, type Engine, type StreamEntry } from '@switchboard/engine';
import { RedisServer } from '../support/redis-server.js';

/** The engines' dead letters keep one contract: in memory and on a real redis-server. */
let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

const engines: [string, () => Promise<Engine>][] = [
  ['memory', () => Promise.resolve(new MemoryEngine())],
  [
    'redis',
    async () => {
      const admin = redis.client();
      await admin.flushall();
      admin.disconnect();
      return new RedisEngine({ url: redis.url, logger: pino({ level: 'silent' }) });
    },
  ],
];

describe.each(engines)('%s engine dead letters', (_name, make) => {
  let engine: Engine;
  beforeEach(async () => {
    engine = await make();
    await engine.connect();
  });
  afterEach(async () => {
    await engine.close();
  });

  /** Appends an entry, reads it as a worker would, and dead-letters it. */
  async function deadLettered(fields: Record<string, string>, reason: string): Promise<StreamEntry> {
    await engine.appendIngest(fields);
    const [entry] = await engine.readIngest('c1', 1, 0);
    if (entry === undefined) throw new Error('nothing read');
    await engine.deadLetter(entry, reason);
    return entry;
  }

  it('keeps what the worker set aside, with its reason and its own fields (even one named reason)', async () => {
    const entry = await deadLettered({ kind: 'analytics', body: '{}', reason: 'a field of the entry' }, 'visitor_id: required');
    const { entries, next } = await engine.deadLetters.list(10);
    expect(next).toBeNull();
    expect(entries).toHaveLength(1);
    const [letter] = entries;
    expect(letter).toMatchObject({ reason: 'visitor_id: required', sourceId: entry.streamId, fields: entry.fields });
    expect(letter?.at).toBeGreaterThan(Date.now() - 60_000);
    expect(await engine.deadLetters.get(letter?.id ?? '')).toEqual(letter);
    expect((await engine.ingestBacklog()).pending).toBe(0);
  });

  it('pages newest first, and removes one at a time', async () => {
    for (let n = 0; n < 5; n += 1) await deadLettered({ kind: 'analytics', body: `{"n":${n}}` }, `r${n}`);
    const first = await engine.deadLetters.list(2);
    expect(first.entries.map((l) => l.reason)).toEqual(['r4', 'r3']);
    const second = await engine.deadLetters.list(2, first.next ?? undefined);
    expect(second.entries.map((l) => l.reason)).toEqual(['r2', 'r1']);
    const last = await engine.deadLetters.list(2, second.next ?? undefined);
    expect(last).toMatchObject({ entries: [{ reason: 'r0' }], next: null });
    expect(await engine.deadLetters.list(2, 'not-an-id')).toEqual({ entries: [], next: null });

    const id = second.entries[0]?.id ?? '';
    expect(await engine.deadLetters.remove(id)).toBe(true);
    expect(await engine.deadLetters.remove(id)).toBe(false);
    expect(await engine.deadLetters.get(id)).toBeUndefined();
    expect(await engine.deadLetters.get('not-an-id')).toBeUndefined();
    expect((await engine.deadLetters.list(10)).entries.map((l) => l.reason)).toEqual(['r4', 'r3', 'r1', 'r0']);
  });

  it('requeues a dead letter onto the ingest stream once, even when asked at the same time', async () => {
    const fields = { kind: 'analytics', id: 'e1', at: '1', body: '{"type":"page_view","visitor_id":"v"}' };
    await deadLettered(fields, 'poison');
    const [letter] = (await engine.deadLetters.list(1)).entries;
    const id = letter?.id ?? '';
    const results = await Promise.all([requeueDeadLetter(engine, id, 60), requeueDeadLetter(engine, id, 60)]);
    expect(results.filter((r) => r.requeued && r.streamId !== undefined)).toHaveLength(1);
    expect(await requeueDeadLetter(engine, id, 60)).toEqual({ requeued: false });
    expect(await engine.deadLetters.get(id)).toBeUndefined();
    const requeued = await engine.readIngest('c2', 10, 0);
    expect(requeued.map((e) => e.fields)).toEqual([fields]);
  });
});
