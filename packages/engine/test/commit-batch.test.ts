import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { MemoryEngine, RedisEngine, consumerAliveKey, type Commit, type Engine, type StreamEntry } from '../src/index.js';
import { RedisServer } from '../../../test/support/redis-server.js';
import { waitFor } from '../../../test/support/wait.js';

const logger = pino({ level: 'silent' });
let redis: RedisServer;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

const engines: [string, () => Promise<Engine>][] = [
  ['memory', () => Promise.resolve(new MemoryEngine({ history: { size: 5, ttlS: 300 } }))],
  [
    'redis',
    async () => {
      const admin = redis.client();
      await admin.flushall();
      admin.disconnect();
      return new RedisEngine({ url: redis.url, logger, history: { size: 5, ttlS: 300 } });
    },
  ],
];

const A = 'sb:ch:test:a';
const B = 'sb:ch:test:b';
const guard = (entry: StreamEntry, consumer = 'c1') => ({ kind: 'entry' as const, streamId: entry.streamId, consumer });

describe.each(engines)('%s engine: commitBatch', (_name, make) => {
  let engine: Engine;
  const seen: { channel: string; frame: string; offset: number }[] = [];

  beforeEach(async () => {
    engine = await make();
    await engine.connect();
    seen.length = 0;
    for (const channel of [A, B]) await engine.subscribe(channel, (m) => seen.push({ channel, frame: m.frame, offset: m.offset }));
  });
  afterEach(() => engine.close());

  const read = async (n: number, consumer = 'c1') => {
    for (let i = 0; i < n; i++) await engine.appendIngest({ body: String(i) });
    const entries = await engine.readIngest(consumer, n, 1_000);
    expect(entries).toHaveLength(n);
    return entries;
  };

  it("keeps each channel's frames in batch order with gap-free offsets, and applies every entry's ops as if one by one", async () => {
    const entries = await read(6);
    const commits: Commit[] = entries.map((entry, n) => ({
      guard: guard(entry),
      ops: [
        { op: 'incr', key: 'sb:test:count', by: n + 1 },
        { op: 'pfadd', key: 'sb:test:hll', member: `v${n % 3}` },
        { op: 'expire', key: 'sb:test:hll', seconds: 60 },
        { op: 'zadd', key: 'sb:test:z', score: n, member: n % 2 === 0 ? 'even' : 'odd' },
        // Not merged: a list capped after each push, in entry order.
        { op: 'lpush', key: 'sb:test:list', values: [String(n)] },
        { op: 'ltrim', key: 'sb:test:list', start: 0, stop: 2 },
      ],
      publish: [{ channel: n % 2 === 0 ? A : B, frame: `{"n":${n}}` }, ...(n === 3 ? [{ channel: A, frame: '{}' }] : [])],
    }));
    const outcomes = await engine.commitBatch(commits);
    expect(outcomes.map((o) => o.ok && o.result.offsets)).toEqual([[1], [1], [2], [2, 3], [4], [3]]);

    expect(await engine.read([{ op: 'get', key: 'sb:test:count' }, { op: 'pfcount', key: 'sb:test:hll' }])).toEqual([21, 3]);
    expect(await engine.readStrings([{ op: 'lrange', key: 'sb:test:list', start: 0, stop: -1 }])).toEqual([['5', '4', '3']]);
    expect(await engine.readStrings([{ op: 'zrangebyscore', key: 'sb:test:z', min: 0 }])).toEqual([['even', 'odd']]);
    expect((await engine.ingestBacklog()).pending).toBe(0);

    await waitFor(() => seen.length === 7, { what: 'every frame' });
    const of = (channel: string) => seen.filter((m) => m.channel === channel).map((m) => [m.offset, m.frame]);
    expect(of(A)).toEqual([
      [1, '{"n":0,"offset":1}'],
      [2, '{"n":2,"offset":2}'],
      [3, '{"offset":3}'],
      [4, '{"n":4,"offset":4}'],
    ]);
    expect(of(B)).toEqual([
      [1, '{"n":1,"offset":1}'],
      [2, '{"n":3,"offset":2}'],
      [3, '{"n":5,"offset":3}'],
    ]);
    // The history has the same frames at the same offsets.
    const history = await engine.history(A, { epoch: (await engine.position(A)).epoch, since: 0 });
    expect(history.recovered && history.messages.map((m) => m.frame)).toEqual(of(A).map(([, frame]) => frame));
  });

  it('reports an entry another consumer took meanwhile as not applied, without publishing it, and applies the rest', async () => {
    const entries = await read(3);
    const taken = await engine.claimStaleIngest('c2', 0, 1);
    expect(taken.map((e) => e.streamId)).toEqual([entries[0]!.streamId]);
    const outcomes = await engine.commitBatch(
      entries.map((entry, n) => ({ guard: guard(entry), ops: [{ op: 'incr', key: 'sb:test:count' }], publish: { channel: A, frame: `{"n":${n}}` } })),
    );
    expect(outcomes).toEqual([
      { ok: true, result: { applied: false } },
      { ok: true, result: { applied: true, offset: 1, offsets: [1] } },
      { ok: true, result: { applied: true, offset: 2, offsets: [2] } },
    ]);
    expect(await engine.read([{ op: 'get', key: 'sb:test:count' }])).toEqual([2]);
    // Still c2's, and committed by it once; a second batch with the same entries changes nothing.
    expect((await engine.ingestBacklog()).pending).toBe(1);
    const again = await engine.commitBatch(entries.map((entry) => ({ guard: guard(entry), ops: [{ op: 'incr', key: 'sb:test:count' }] })));
    expect(again.map((o) => o.ok && o.result.applied)).toEqual([false, false, false]);
    await waitFor(() => seen.length === 2, { what: 'two frames' });
    expect(seen.map((m) => m.frame)).toEqual(['{"n":1,"offset":1}', '{"n":2,"offset":2}']);
  });

  it('keeps offsets gap-free over many batches, and the history its newest HISTORY_SIZE frames', async () => {
    for (let round = 0; round < 5; round++) {
      const entries = await read(40);
      const outcomes = await engine.commitBatch(entries.map((entry) => ({ guard: guard(entry), ops: [], publish: { channel: A, frame: '{}' } })));
      expect(outcomes.every((o) => o.ok && o.result.applied)).toBe(true);
    }
    const { epoch, offset } = await engine.position(A);
    expect(offset).toBe(200);
    const history = await engine.history(A, { epoch, since: 195 });
    expect(history.recovered && history.messages.map((m) => m.offset)).toEqual([196, 197, 198, 199, 200]);
    expect((await engine.history(A, { epoch, since: 194 })).recovered).toBe(false);
  });
});

describe('redis engine: commitBatch publishes once per channel and batch', () => {
  it("sends a channel's frames of a batch in one message, which subscribers receive as its frames in offset order", async () => {
    const admin = redis.client();
    await admin.flushall();
    const raw = redis.client();
    const messages: [string, string][] = [];
    raw.on('message', (name: string, payload: string) => messages.push([name, payload]));
    await raw.subscribe(A, B);
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    const seen: string[] = [];
    for (const channel of [A, B]) await engine.subscribe(channel, (m) => seen.push(`${channel} ${m.offset} ${m.frame}`));
    for (let i = 0; i < 4; i++) await engine.appendIngest({ body: String(i) });
    const entries = await engine.readIngest('c1', 4, 1_000);
    const frames = ['{"n":"é"}', '{"n":1}', '{}'];
    const outcomes = await engine.commitBatch([
      ...frames.map((frame, n): Commit => ({ guard: guard(entries[n]!), ops: [], publish: { channel: A, frame } })),
      { guard: guard(entries[3]!), ops: [], publish: { channel: B, frame: '{"b":1}' } },
    ]);
    expect(outcomes.every((o) => o.ok && o.result.applied)).toBe(true);
    await waitFor(() => seen.length === 4 && messages.length === 2, { what: 'four frames in two messages' });
    const { epoch } = await engine.position(A);
    // On the wire the frames go without their offset (the header has the first); subscribers get them with it.
    const stamped = ['{"n":"é","offset":1}', '{"n":1,"offset":2}', '{"offset":3}'];
    expect(messages).toEqual([
      [A, `${epoch} 1;${frames.map((f) => Buffer.byteLength(f)).join(',')} ${frames.join('')}`],
      [B, `${(await engine.position(B)).epoch} 1;7 {"b":1}`],
    ]);
    expect(seen).toEqual([...stamped.map((f, n) => `${A} ${n + 1} ${f}`), `${B} 1 {"b":1,"offset":1}`]);
    await engine.close();
    raw.disconnect();
    admin.disconnect();
  });
});

describe('redis engine: commitBatch refuses a failing entry alone', () => {
  it('leaves the entry whose key holds the wrong type pending, applies and acknowledges the others, and skips no offset', async () => {
    const admin = redis.client();
    await admin.flushall();
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    const seen: string[] = [];
    await engine.subscribe(A, (m) => seen.push(m.frame));
    await admin.lpush('sb:test:wrong', 'a list');
    for (let i = 0; i < 3; i++) await engine.appendIngest({ body: String(i) });
    const entries = await engine.readIngest('c1', 3, 1_000);
    const outcomes = await engine.commitBatch(
      entries.map((entry, n) => ({
        guard: guard(entry),
        ops: [{ op: 'incr', key: n === 1 ? 'sb:test:wrong' : 'sb:test:count' }],
        publish: { channel: A, frame: `{"n":${n}}` },
      })),
    );
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    expect(outcomes[1]!.ok === false && outcomes[1]!.error.message).toMatch(/wrong type/);
    expect(outcomes[2]).toEqual({ ok: true, result: { applied: true, offset: 2, offsets: [2] } });
    const pending = (await admin.xpending('sb:ingest', 'workers', '-', '+', 10)) as [string][];
    expect(pending.map(([id]) => id)).toEqual([entries[1]!.streamId]);
    expect(await admin.get('sb:test:count')).toBe('2');
    await waitFor(() => seen.length === 2, { what: 'two frames' });
    expect(seen).toEqual(['{"n":0,"offset":1}', '{"n":2,"offset":2}']);
    await engine.close();
    admin.disconnect();
  });
});

describe('redis engine: a batch on a channel whose history is ahead of its position', () => {
  it('drops that history (it cannot be continued) and starts it again with the batch, offsets in the frames read back', async () => {
    const admin = redis.client();
    await admin.flushall();
    const engine = new RedisEngine({ url: redis.url, logger, history: { size: 5, ttlS: 300 } });
    await engine.connect();
    const commitTwo = async (n: number) => {
      for (let i = 0; i < 2; i++) await engine.appendIngest({ body: String(i) });
      const entries = await engine.readIngest('c1', 2, 1_000);
      const outcomes = await engine.commitBatch(entries.map((entry, k) => ({ guard: guard(entry), ops: [], publish: { channel: A, frame: `{"n":${n + k}}` } })));
      expect(outcomes.map((o) => o.ok && o.result.applied && o.result.offset)).toEqual([1, 2]);
    };
    await commitTwo(1);
    // The position lost its offset alone: the next batch takes offsets 1 and 2 again.
    const { position, history } = engine.channelNames(A);
    await admin.hset(position, 'offset', '0');
    await commitTwo(3);
    const { epoch } = await engine.position(A);
    const read = await engine.history(A, { epoch, since: 0 });
    expect(read.recovered && read.messages.map((m) => m.frame)).toEqual(['{"n":3,"offset":1}', '{"n":4,"offset":2}']);
    expect(await admin.xlen(history)).toBe(2);
    await engine.close();
    admin.disconnect();
  });
});

describe('redis engine: a batch waits for an older entry in a live consumer hands', () => {
  // The merged script reads the order rule and ownership from one XPENDING; with more entries
  // pending than that call reads (`older` dead ones), it falls back to the two calls.
  it.each([0, 250])('commits after the older entry, offsets following it (%i older entries of a dead consumer)', async (older) => {
    const admin = redis.client();
    await admin.flushall();
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    await engine.appendIngest({ body: 'first' });
    const [first] = await engine.readIngest('c0', 1, 1_000);
    await admin.set(consumerAliveKey('c0'), '1', 'PX', 60_000);
    for (let i = 0; i < older; i++) await engine.appendIngest({ body: 'dead' });
    if (older > 0) expect(await engine.readIngest('gone', older, 1_000)).toHaveLength(older);
    for (let i = 0; i < 3; i++) await engine.appendIngest({ body: String(i) });
    const entries = await engine.readIngest('c1', 3, 1_000);
    let settled = false;
    const later = engine.commitBatch(entries.map((entry, n) => ({ guard: guard(entry), ops: [], publish: { channel: A, frame: `{"n":${n}}` } })));
    void later.then(() => (settled = true));
    // Held back while c0 (alive) holds the older entry: nothing of it applied meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);
    expect((await engine.position(A)).offset).toBe(0);
    const [own] = await engine.commitBatch([{ guard: guard(first!, 'c0'), ops: [], publish: { channel: A, frame: '{"first":1}' } }]);
    expect(own).toEqual({ ok: true, result: { applied: true, offset: 1, offsets: [1] } });
    const outcomes = await later;
    expect(outcomes.map((o) => o.ok && o.result.applied && o.result.offset)).toEqual([2, 3, 4]);
    await engine.close();
    admin.disconnect();
  });
});
