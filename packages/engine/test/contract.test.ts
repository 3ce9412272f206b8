import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { ANALYTICS_KEYS, CHANNELS, INGEST_STREAM, INGEST_GROUP, LOGS_KEYS, ingestDedupeKey, logsChannel } from '@switchboard/protocol';
import { MemoryEngine, RedisEngine, channelKeys, type ChannelMessage, type Commit, type Engine, type HistoryLimits } from '../src/index.js';
import { RedisServer } from '../../../test/support/redis-server.js';
import { clusterClient, nodeClient, startRedisCluster, type LocalRedisCluster } from '../../../test/support/redis-cluster.js';
import { waitFor } from '../../../test/support/wait.js';

const logger = pino({ level: 'silent' });
let redis: RedisServer;
/** A real Redis Cluster (3 masters + 3 replicas), started once for the file. */
let cluster: LocalRedisCluster;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([RedisServer.start(), startRedisCluster()]);
}, 240_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

/** Empties every master of the cluster. */
async function flushCluster(): Promise<void> {
  for (const master of await cluster.masters()) {
    const client = nodeClient(master.port);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }
}

const clusterNodes = () => cluster.runningPorts().map((port) => ({ host: '127.0.0.1', port }));

/** A Redis engine of the named kind ('redis': one server; 'cluster': the Redis Cluster). */
const redisEngine = (name: string, history?: HistoryLimits): RedisEngine =>
  name === 'cluster' ? new RedisEngine({ cluster: { nodes: clusterNodes() }, logger, history }) : new RedisEngine({ url: redis.url, logger, history });

/** Empties the store behind the named engine. */
async function flush(name: string): Promise<void> {
  if (name === 'cluster') return flushCluster();
  const admin = redis.client();
  await admin.flushall();
  admin.disconnect();
}

/** A client for assertions on the store behind the named engine; the caller disconnects it. */
const adminClient = (name: string) => (name === 'cluster' ? clusterClient(cluster) : redis.client());

/** The same contract, run against both engines. */
const engines: [string, () => Promise<Engine>][] = [
  ['memory', () => Promise.resolve(new MemoryEngine())],
  [
    'redis',
    async () => {
      const admin = redis.client();
      await admin.flushall();
      admin.disconnect();
      return new RedisEngine({ url: redis.url, logger });
    },
  ],
  [
    'cluster',
    async () => {
      await flushCluster();
      return redisEngine('cluster');
    },
  ],
];

describe.each(engines)('%s engine contract', (_name, make) => {
  let engine: Engine;
  const extra: Engine[] = [];

  beforeEach(async () => {
    engine = await make();
    await engine.connect();
  });
  afterEach(async () => {
    await Promise.all([engine, ...extra.splice(0)].map((e) => e.close()));
  });

  it('delivers appended entries to one consumer of the group, in order', async () => {
    const a = await engine.appendIngest({ kind: 'analytics', body: '1' });
    const b = await engine.appendIngest({ kind: 'analytics', body: '2' });
    const first = await engine.readIngest('c1', 10, 100);
    expect(first.map((e) => e.streamId)).toEqual([a, b]);
    expect(first.map((e) => e.fields['body'])).toEqual(['1', '2']);
    expect(first.every((e) => e.deliveries === 1)).toBe(true);
    expect(await engine.readIngest('c2', 10, 50)).toEqual([]);
    expect((await engine.ingestBacklog()).pending).toBe(2);
  });

  it('reads without waiting when blockMs is 0', async () => {
    const started = Date.now();
    expect(await engine.readIngest('c1', 10, 0)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1_000);
    await engine.appendIngest({ body: 'now' });
    expect((await engine.readIngest('c1', 10, 0)).map((e) => e.fields['body'])).toEqual(['now']);
  });

  it('wakes a blocked reader when an entry arrives', async () => {
    const reading = engine.readIngest('c1', 10, 5_000);
    await new Promise((r) => setTimeout(r, 100));
    await engine.appendIngest({ kind: 'analytics', body: 'late' });
    const entries = await reading;
    expect(entries.map((e) => e.fields['body'])).toEqual(['late']);
  });

  it('commits an entry exactly once: applies ops, publishes with increasing offsets, acknowledges', async () => {
    const received: string[] = [];
    await engine.subscribe('sb:test:channel', (m) => received.push(m.frame));
    await engine.appendIngest({ body: 'x' });
    await engine.appendIngest({ body: 'y' });
    const entries = await engine.readIngest('c1', 10, 100);
    for (const entry of entries) {
      const result = await engine.commit({
        guard: { kind: 'entry', streamId: entry.streamId, consumer: 'c1' },
        ops: [{ op: 'incr', key: 'sb:test:count' }, { op: 'pfadd', key: 'sb:test:hll', member: entry.fields['body'] ?? '' }],
        publish: { channel: 'sb:test:channel', frame: `{"type":"t","body":"${entry.fields['body']}"}` },
      });
      expect(result.applied).toBe(true);
    }
    // A second commit of the same entry is refused: it is no longer pending.
    const again = await engine.commit({
      guard: { kind: 'entry', streamId: entries[0]!.streamId, consumer: 'c1' },
      ops: [{ op: 'incr', key: 'sb:test:count' }],
    });
    expect(again.applied).toBe(false);
    await waitFor(() => received.length === 2, { what: 'two published frames' });
    expect(received.map((m) => JSON.parse(m) as unknown)).toEqual([
      { type: 't', body: 'x', offset: 1 },
      { type: 't', body: 'y', offset: 2 },
    ]);
    expect(await engine.read([{ op: 'get', key: 'sb:test:count' }, { op: 'pfcount', key: 'sb:test:hll' }])).toEqual([2, 2]);
    expect((await engine.ingestBacklog()).pending).toBe(0);
  });

  it('lets another consumer claim stale entries, and refuses the old owner\'s late commit', async () => {
    await engine.appendIngest({ body: 'stale' });
    const [entry] = await engine.readIngest('dead', 10, 100);
    expect(entry).toBeDefined();
    expect(await engine.claimStaleIngest('alive', 60_000, 10)).toEqual([]);
    await new Promise((r) => setTimeout(r, 120));
    const claimed = await engine.claimStaleIngest('alive', 100, 10);
    expect(claimed.map((e) => e.streamId)).toEqual([entry!.streamId]);
    expect(claimed[0]!.deliveries).toBe(2);
    const late = await engine.commit({ guard: { kind: 'entry', streamId: entry!.streamId, consumer: 'dead' }, ops: [] });
    expect(late.applied).toBe(false);
    const owner = await engine.commit({ guard: { kind: 'entry', streamId: entry!.streamId, consumer: 'alive' }, ops: [] });
    expect(owner.applied).toBe(true);
  });

  it('applies a once-guarded commit only once per key', async () => {
    const guard = { kind: 'once' as const, key: 'sb:test:once', ttlS: 60 };
    expect((await engine.commit({ guard, ops: [{ op: 'incr', key: 'sb:test:n' }] })).applied).toBe(true);
    expect((await engine.commit({ guard, ops: [{ op: 'incr', key: 'sb:test:n' }] })).applied).toBe(false);
    expect(await engine.read([{ op: 'get', key: 'sb:test:n' }])).toEqual([1]);
  });

  it('keeps sorted-set windows and expiries', async () => {
    const guard = (key: string) => ({ kind: 'once' as const, key, ttlS: 60 });
    await engine.commit({
      guard: guard('sb:test:g1'),
      ops: [
        { op: 'zadd', key: 'sb:test:z', score: 100, member: 'old' },
        { op: 'zadd', key: 'sb:test:z', score: 200, member: 'new' },
        { op: 'zadd', key: 'sb:test:z', score: 300, member: 'new' },
        { op: 'incr', key: 'sb:test:short' },
        { op: 'expire', key: 'sb:test:short', seconds: 1 },
      ],
    });
    expect(await engine.read([{ op: 'zcount', key: 'sb:test:z', min: 150 }, { op: 'zcount', key: 'sb:test:z', min: 0 }])).toEqual([1, 2]);
    await engine.commit({ guard: guard('sb:test:g2'), ops: [{ op: 'zremrangebyscore', key: 'sb:test:z', max: 150 }] });
    expect(await engine.read([{ op: 'zcount', key: 'sb:test:z', min: 0 }])).toEqual([1]);
    await waitFor(async () => (await engine.read([{ op: 'get', key: 'sb:test:short' }]))[0] === 0, { what: 'key expiry' });
  });

  it('keeps lists newest first: lpush in order, ltrim to a cap, lrange with negative indexes, del', async () => {
    const none = { kind: 'none' as const };
    const key = 'sb:test:list';
    await engine.commit({ guard: none, ops: [{ op: 'lpush', key, values: ['a', 'b', 'c'] }] });
    await engine.commit({ guard: none, ops: [{ op: 'lpush', key, values: ['d'] }, { op: 'ltrim', key, start: 0, stop: 2 }] });
    const [all, tail, none2] = await engine.readStrings([
      { op: 'lrange', key, start: 0, stop: -1 },
      { op: 'lrange', key, start: -2, stop: 10 },
      { op: 'lrange', key: 'sb:test:missing', start: 0, stop: -1 },
    ]);
    expect(all).toEqual(['d', 'c', 'b']);
    expect(tail).toEqual(['c', 'b']);
    expect(none2).toEqual([]);
    // Values are kept byte for byte, whatever they contain.
    const odd = ['{"m":"é ✓ 😀 \\u0000 \\"q\\""}', '', 'x'.repeat(10_000)];
    await engine.commit({ guard: none, ops: [{ op: 'del', key }, { op: 'lpush', key, values: odd }] });
    expect((await engine.readStrings([{ op: 'lrange', key, start: 0, stop: -1 }]))[0]).toEqual([...odd].reverse());
    await engine.commit({ guard: none, ops: [{ op: 'del', key }] });
    expect(await engine.readStrings([{ op: 'lrange', key, start: 0, stop: -1 }])).toEqual([[]]);
  });

  it('sets strings with a TTL, increments by an amount, and reads strings and sorted-set members', async () => {
    const none = { kind: 'none' as const };
    await engine.commit({
      guard: none,
      ops: [
        { op: 'set', key: 'sb:test:s1', value: 'one' },
        { op: 'set', key: 'sb:test:s2', value: 'two', ttlS: 1 },
        { op: 'incr', key: 'sb:test:n', by: 5 },
        { op: 'incr', key: 'sb:test:n' },
        { op: 'zadd', key: 'sb:test:members', score: 30, member: 'late' },
        { op: 'zadd', key: 'sb:test:members', score: 10, member: 'early' },
        { op: 'zadd', key: 'sb:test:members', score: 20, member: 'middle' },
      ],
    });
    expect(await engine.readStrings([
      { op: 'mget', keys: ['sb:test:s1', 'sb:test:absent', 'sb:test:s2', 'sb:test:n'] },
      { op: 'zrangebyscore', key: 'sb:test:members', min: 15 },
      { op: 'mget', keys: [] },
    ])).toEqual([['one', 'two', '6'], ['middle', 'late'], []]);
    expect(await engine.read([{ op: 'get', key: 'sb:test:n' }])).toEqual([6]);
    await waitFor(async () => (await engine.readStrings([{ op: 'mget', keys: ['sb:test:s2'] }]))[0]!.length === 0, {
      what: 'the string to expire',
    });
  });

  it('publishes several frames in one commit, each with its own channel offset', async () => {
    const seen: Record<string, string[]> = { a: [], b: [] };
    await engine.subscribe('sb:test:multi:a', (m) => seen['a']!.push(m.frame));
    await engine.subscribe('sb:test:multi:b', (m) => seen['b']!.push(m.frame));
    const first = await engine.commit({
      guard: { kind: 'none' },
      ops: [],
      publish: [
        { channel: 'sb:test:multi:a', frame: '{"n":1}' },
        { channel: 'sb:test:multi:b', frame: '{"n":2}' },
        { channel: 'sb:test:multi:a', frame: '{"n":3}' },
      ],
    });
    expect(first).toEqual({ applied: true, offset: 1, offsets: [1, 1, 2] });
    const single = await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: 'sb:test:multi:b', frame: '{"n":4}' } });
    expect(single).toEqual({ applied: true, offset: 2, offsets: [2] });
    await waitFor(() => seen['a']!.length === 2 && seen['b']!.length === 2, { what: 'four frames' });
    expect(seen).toEqual({
      a: ['{"n":1,"offset":1}', '{"n":3,"offset":2}'],
      b: ['{"n":2,"offset":1}', '{"n":4,"offset":2}'],
    });
  });

  it('stops delivering to a handler once it unsubscribes; other handlers keep receiving', async () => {
    const kept: string[] = [];
    const dropped: string[] = [];
    const drop = (m: ChannelMessage) => dropped.push(m.frame);
    await engine.subscribe('sb:test:unsub', (m) => kept.push(m.frame));
    await engine.subscribe('sb:test:unsub', drop);
    const publish = (n: number) =>
      engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: 'sb:test:unsub', frame: `{"n":${n}}` } });
    await publish(1);
    await waitFor(() => kept.length === 1 && dropped.length === 1, { what: 'the first frame on both' });
    await engine.unsubscribe('sb:test:unsub', drop);
    await publish(2);
    await waitFor(() => kept.length === 2, { what: 'the second frame' });
    // The channel is left once its last handler goes, and joined again on the next subscribe.
    await engine.unsubscribe('sb:test:unsub', drop); // unknown handler: no effect
    const again: string[] = [];
    await engine.subscribe('sb:test:unsub', (m) => again.push(m.frame));
    await publish(3);
    await waitFor(() => kept.length === 3 && again.length === 1, { what: 'the third frame' });
    expect(dropped).toEqual(['{"n":1,"offset":1}']);
  });

  it('moves bad entries to the dead-letter stream and acknowledges them', async () => {
    await engine.appendIngest({ kind: 'nonsense' });
    const [entry] = await engine.readIngest('c1', 1, 100);
    await engine.deadLetter(entry!, 'kind: unknown');
    expect((await engine.ingestBacklog()).pending).toBe(0);
  });

  it('grants a lease to one holder at a time and hands it over when it expires', async () => {
    expect(await engine.acquireLease('hb', 'w1', 300)).toBe(true);
    expect(await engine.acquireLease('hb', 'w2', 300)).toBe(false);
    expect(await engine.acquireLease('hb', 'w1', 300)).toBe(true); // renewal
    await waitFor(() => engine.acquireLease('hb', 'w2', 300), { what: 'lease expiry', timeoutMs: 5_000 });
    expect(await engine.acquireLease('hb', 'w1', 300)).toBe(false);
    await engine.releaseLease('hb', 'w1'); // not the holder: no effect
    expect(await engine.acquireLease('hb', 'w1', 300)).toBe(false);
    await engine.releaseLease('hb', 'w2');
    expect(await engine.acquireLease('hb', 'w1', 300)).toBe(true);
  });

  it('fans a publish out to every subscriber of the channel', async () => {
    const other = await make();
    if (other.kind === 'memory') {
      // One process, one engine: a second subscriber on the same engine stands in for a second node.
      await other.close();
      const seen: string[][] = [[], []];
      await engine.subscribe('sb:test:fan', (m) => seen[0]!.push(m.frame));
      await engine.subscribe('sb:test:fan', (m) => seen[1]!.push(m.frame));
      await engine.commit({ guard: { kind: 'once', key: 'sb:test:f', ttlS: 5 }, ops: [], publish: { channel: 'sb:test:fan', frame: '{}' } });
      await waitFor(() => seen.every((s) => s.length === 1), { what: 'both subscribers' });
      expect(seen[0]).toEqual(['{"offset":1}']);
      return;
    }
    extra.push(other);
    await other.connect();
    const seen: string[] = [];
    await other.subscribe('sb:test:fan', (m) => seen.push(m.frame));
    await engine.commit({ guard: { kind: 'once', key: 'sb:test:f', ttlS: 5 }, ops: [], publish: { channel: 'sb:test:fan', frame: '{"a":1}' } });
    await waitFor(() => seen.length === 1, { what: 'cross-connection delivery' });
    expect(seen).toEqual(['{"a":1,"offset":1}']);
  });

  it('refuses a commit that cannot be applied whole: nothing written, nothing published, the entry still pending', async () => {
    // Keys and channel of one partition, so the commit is one atomic step on a cluster too.
    const channel = CHANNELS.analytics;
    const count = ANALYTICS_KEYS.totalEvents;
    const list = ANALYTICS_KEYS.recentVisitors;
    await engine.commit({ guard: { kind: 'none' }, ops: [{ op: 'lpush', key: list, values: ['x'] }] });
    await engine.appendIngest({ kind: 'analytics', body: '{}' });
    const [entry] = await engine.readIngest('c1', 1, 1_000);
    const guard = { kind: 'entry' as const, streamId: entry!.streamId, consumer: 'c1' };
    const seen: ChannelMessage[] = [];
    await engine.subscribe(channel, (m) => seen.push(m));

    // The second op hits a key of another type: refused before the first op is written.
    await expect(
      engine.commit({
        guard,
        ops: [{ op: 'incr', key: count }, { op: 'zadd', key: list, score: 1, member: 'm' }],
        publish: { channel, frame: '{"n":1}' },
      }),
    ).rejects.toThrow(/commit refused/);
    // Arguments the store cannot take, and frames that are not JSON objects, are refused too.
    const refused: Commit[] = [
      { guard, ops: [{ op: 'incr', key: count, by: 1.5 }] },
      { guard, ops: [{ op: 'incr', key: count }, { op: 'zadd', key: 'sb:test:z', score: Number.NaN, member: 'm' }] },
      { guard, ops: [{ op: 'incr', key: count }, { op: 'set', key: 'sb:test:s', value: 'v', ttlS: 0.5 }] },
      { guard, ops: [{ op: 'incr', key: count }], publish: [{ channel, frame: '{"n":1}' }, { channel, frame: '[1]' }] },
    ];
    for (const commit of refused) await expect(engine.commit(commit)).rejects.toThrow(TypeError);
    expect(await engine.read([{ op: 'get', key: count }])).toEqual([0]);
    expect(await engine.readStrings([{ op: 'lrange', key: list, start: 0, stop: -1 }])).toEqual([['x']]);
    expect((await engine.position(channel)).offset).toBe(0);
    expect((await engine.ingestBacklog()).pending).toBe(1);

    // The entry is still the consumer's: retried whole, it applies once, and only then is acknowledged.
    const retried = await engine.commit({ guard, ops: [{ op: 'incr', key: count }], publish: { channel, frame: '{"n":2}' } });
    expect(retried).toMatchObject({ applied: true, offsets: [1] });
    expect(await engine.read([{ op: 'get', key: count }])).toEqual([1]);
    expect((await engine.ingestBacklog()).pending).toBe(0);
    expect(await engine.commit({ guard, ops: [{ op: 'incr', key: count }] })).toEqual({ applied: false });
    await waitFor(() => seen.length === 1, { what: 'the frame' });
    expect(seen.map((m) => m.frame)).toEqual(['{"n":2,"offset":1}']);
  });

  it('commits a batch: one outcome per commit in order, a refused one alone, frames of a channel in batch order', async () => {
    const channel = CHANNELS.analytics;
    const seen: string[] = [];
    await engine.subscribe(channel, (m) => seen.push(m.frame));
    for (let n = 0; n < 3; n++) await engine.appendIngest({ kind: 'analytics', body: String(n) });
    const entries = await engine.readIngest('c1', 10, 1_000);
    expect(entries).toHaveLength(3);
    const commits: Commit[] = entries.map((entry, n) => ({
      guard: { kind: 'entry', streamId: entry.streamId, consumer: 'c1' },
      ops: [{ op: 'incr', key: ANALYTICS_KEYS.totalEvents, by: n === 1 ? 0.5 : 1 }],
      publish: { channel, frame: `{"n":${n}}` },
    }));
    const outcomes = await engine.commitBatch(commits);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    expect(outcomes[0]).toEqual({ ok: true, result: { applied: true, offset: 1, offsets: [1] } });
    expect(outcomes[1]!.ok === false && outcomes[1]!.error).toBeInstanceOf(TypeError);
    expect(outcomes[2]).toEqual({ ok: true, result: { applied: true, offset: 2, offsets: [2] } });
    expect(await engine.read([{ op: 'get', key: ANALYTICS_KEYS.totalEvents }])).toEqual([2]);
    // The refused commit's entry stays pending; the others were acknowledged.
    expect((await engine.ingestBacklog()).pending).toBe(1);
    await waitFor(() => seen.length === 2, { what: 'both frames' });
    expect(seen).toEqual(['{"n":0,"offset":1}', '{"n":2,"offset":2}']);
    expect(await engine.commitBatch([])).toEqual([]);
  });
});

describe('redis engine specifics', () => {
  it('creates the consumer group from the start of the stream, so early entries are not lost', async () => {
    const admin = redis.client();
    await admin.flushall();
    await admin.xadd(INGEST_STREAM, '*', 'kind', 'analytics', 'body', 'before-group');
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    const entries = await engine.readIngest('c', 10, 100);
    expect(entries.map((e) => e.fields['body'])).toEqual(['before-group']);
    const groups = (await admin.xinfo('GROUPS', INGEST_STREAM)) as unknown[][];
    expect(groups[0]).toContain(INGEST_GROUP);
    await engine.close();
    admin.disconnect();
  });

  it('trims acknowledged entries but keeps pending ones', async () => {
    const admin = redis.client();
    await admin.flushall();
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    for (let i = 0; i < 5; i++) await engine.appendIngest({ body: String(i) });
    const entries = await engine.readIngest('c', 5, 100);
    for (const e of entries.slice(0, 3)) {
      await engine.commit({ guard: { kind: 'entry', streamId: e.streamId, consumer: 'c' }, ops: [] });
    }
    await engine.trimIngest();
    const left = await admin.xrange(INGEST_STREAM, '-', '+');
    // Approximate trimming may keep more, but never drops a pending entry.
    expect(left.map(([id]) => id)).toEqual(expect.arrayContaining(entries.slice(3).map((e) => e.streamId)));
    await engine.close();
    admin.disconnect();
  });

  it('reports down while Redis is unreachable and up again after it restarts', async () => {
    const engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
    await engine.subscribe('sb:test:x', () => undefined);
    expect(engine.health()).toBe('up');
    await redis.kill();
    await waitFor(() => engine.health() === 'down', { what: 'down' });
    await expect(engine.appendIngest({ body: 'lost' })).rejects.toThrow();
    await redis.restart();
    await waitFor(() => engine.health() === 'up', { what: 'up again' });
    await engine.close();
  });
});

describe.each(engines)('%s engine contract: strings, idempotent appends, takeover of dead consumers', (_name, make) => {
  let engine: Engine;
  beforeEach(async () => {
    engine = await make();
    await engine.connect();
  });
  afterEach(async () => {
    await engine.close();
  });

  it('sets a string only when absent, with an expiry', async () => {
    const owner = async () => (await engine.readStrings([{ op: 'mget', keys: ['sb:test:owner'] }]))[0]?.[0];
    expect(await owner()).toBeUndefined();
    await engine.commit({ guard: { kind: 'once', key: 'sb:test:s1', ttlS: 60 }, ops: [{ op: 'setnx', key: 'sb:test:owner', value: 'alice', seconds: 1 }] });
    await engine.commit({ guard: { kind: 'once', key: 'sb:test:s2', ttlS: 60 }, ops: [{ op: 'setnx', key: 'sb:test:owner', value: 'bob', seconds: 1 }] });
    expect(await owner()).toBe('alice');
    await waitFor(async () => (await owner()) === undefined, { what: 'string expiry' });
  });

  describe('idempotent ingest appends', () => {
    /** Every entry appended so far, read (and left pending) through the group. */
    const readAll = async () => engine.readIngest('reader', 100, 100);

    it('stores the first append with a key, answers later ones with the first value and stores nothing', async () => {
      const once = { key: ingestDedupeKey('test', 'k1'), ttlS: 60, value: 'first-id' };
      const first = await engine.appendIngestOnce({ kind: 'analytics', id: 'first-id', body: '1' }, once);
      expect(first).toEqual({ duplicate: false, streamId: expect.any(String) as unknown });
      const second = await engine.appendIngestOnce({ kind: 'analytics', id: 'second-id', body: '2' }, { ...once, value: 'second-id' });
      expect(second).toEqual({ duplicate: true, value: 'first-id' });
      const entries = await readAll();
      expect(entries.map((e) => [e.streamId, e.fields['id']])).toEqual([[(first as { streamId: string }).streamId, 'first-id']]);
    });

    it('stores appends with different keys, and in different scopes, independently', async () => {
      const results = await Promise.all([
        engine.appendIngestOnce({ body: 'a' }, { key: ingestDedupeKey('p1', 'k'), ttlS: 60, value: 'a' }),
        engine.appendIngestOnce({ body: 'b' }, { key: ingestDedupeKey('p2', 'k'), ttlS: 60, value: 'b' }),
        engine.appendIngestOnce({ body: 'c' }, { key: ingestDedupeKey('p1', 'other'), ttlS: 60, value: 'c' }),
      ]);
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect((await readAll()).map((e) => e.fields['body']).sort()).toEqual(['a', 'b', 'c']);
    });

    it('lets exactly one of concurrent appends with the same key store', async () => {
      const once = (value: string) => ({ key: ingestDedupeKey('test', 'race'), ttlS: 60, value });
      const results = await Promise.all(['1', '2', '3', '4'].map((n) => engine.appendIngestOnce({ body: n }, once(n))));
      const stored = results.filter((r) => !r.duplicate);
      expect(stored).toHaveLength(1);
      expect((await readAll()).map((e) => e.fields['body'])).toHaveLength(1);
    });

    it('allows a new append once the key expired', async () => {
      const once = { key: ingestDedupeKey('test', 'short'), ttlS: 1, value: 'v1' };
      expect((await engine.appendIngestOnce({ body: '1' }, once)).duplicate).toBe(false);
      expect(await engine.appendIngestOnce({ body: '2' }, { ...once, value: 'v2' })).toEqual({ duplicate: true, value: 'v1' });
      const again = await waitFor(
        async () => {
          const result = await engine.appendIngestOnce({ body: '3' }, { ...once, value: 'v3' });
          return result.duplicate ? undefined : result;
        },
        { what: 'the dedupe key to expire', intervalMs: 200 },
      );
      expect(again.duplicate).toBe(false);
      expect((await readAll()).map((e) => e.fields['body'])).toEqual(['1', '3']);
      expect(await engine.appendIngestOnce({ body: '4' }, { ...once, value: 'v4' })).toEqual({ duplicate: true, value: 'v3' });
    });
  });

  it('moves a dead consumer\'s pending entries to a live one at once; announced consumers keep theirs', async () => {
    await engine.announceConsumer('alive', 10_000);
    await engine.announceConsumer('busy', 10_000);
    for (const body of ['a', 'b', 'c']) await engine.appendIngest({ body });
    const deadEntries = await engine.readIngest('dead', 2, 100);
    const busyEntries = await engine.readIngest('busy', 1, 100);
    expect(deadEntries).toHaveLength(2);
    expect(busyEntries).toHaveLength(1);

    const taken = await engine.takeOverDeadConsumers('alive', 100);
    expect(taken.consumers).toEqual(['dead']);
    expect(taken.entries.map((e) => [e.streamId, e.fields['body'], e.deliveries])).toEqual(
      deadEntries.map((e) => [e.streamId, e.fields['body'], 2]),
    );
    // Nothing left to take; the dead consumer's late commit is refused, the taker's applies once.
    expect(await engine.takeOverDeadConsumers('alive', 100)).toEqual({ consumers: [], entries: [] });
    const stale = await engine.commit({ guard: { kind: 'entry', streamId: deadEntries[0]!.streamId, consumer: 'dead' }, ops: [] });
    expect(stale.applied).toBe(false);
    for (const entry of taken.entries) {
      expect((await engine.commit({ guard: { kind: 'entry', streamId: entry.streamId, consumer: 'alive' }, ops: [] })).applied).toBe(true);
    }
    // 'busy' is announced: its entry stays with it.
    expect((await engine.ingestBacklog()).pending).toBe(1);

    // Once 'busy' withdraws (or its announcement runs out), its entry is taken over too.
    await engine.withdrawConsumer('busy');
    const later = await engine.takeOverDeadConsumers('alive', 100);
    expect(later).toEqual({ consumers: ['busy'], entries: [{ ...busyEntries[0]!, deliveries: 2 }] });
  });

  it('takes over once an announcement runs out, and takes at most `count` entries per call', async () => {
    await engine.announceConsumer('short', 300);
    for (const body of ['1', '2', '3']) await engine.appendIngest({ body });
    await engine.readIngest('short', 3, 100);
    expect((await engine.takeOverDeadConsumers('taker', 10)).entries).toEqual([]);
    const first = await waitFor(
      async () => {
        const taken = await engine.takeOverDeadConsumers('taker', 2);
        return taken.entries.length > 0 ? taken : undefined;
      },
      { what: 'the announcement to run out', timeoutMs: 10_000 },
    );
    expect(first.entries.map((e) => e.fields['body'])).toEqual(['1', '2']);
    expect((await engine.takeOverDeadConsumers('taker', 2)).entries.map((e) => e.fields['body'])).toEqual(['3']);
  });
});

/** Engines with the given history limits, on a fresh Redis for the Redis one. */
const enginesWith = (history: HistoryLimits): [string, () => Promise<Engine>][] => [
  ['memory', () => Promise.resolve(new MemoryEngine({ history }))],
  [
    'redis',
    async () => {
      const admin = redis.client();
      await admin.flushall();
      admin.disconnect();
      return new RedisEngine({ url: redis.url, logger, history });
    },
  ],
  [
    'cluster',
    async () => {
      await flushCluster();
      return redisEngine('cluster', history);
    },
  ],
];

describe.each(enginesWith({ size: 5, ttlS: 300 }))('%s engine contract: channel history and epochs', (name, make) => {
  let engine: Engine;
  beforeEach(async () => {
    engine = await make();
    await engine.connect();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await engine.close();
  });

  const channel = 'sb:ch:test-history';
  const publish = (...frames: string[]) =>
    engine.commit({ guard: { kind: 'none' }, ops: [], publish: frames.map((frame) => ({ channel, frame })) });
  const publishN = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) await publish(`{"n":${n}}`);
  };

  it('gives an unused channel an epoch at offset 0, and keeps it for the first frames', async () => {
    const first = await engine.position(channel);
    expect(first.offset).toBe(0);
    expect(first.epoch).toMatch(/^[A-Za-z0-9_-]{4,32}$/);
    expect(await engine.position(channel)).toEqual(first);
    // Another channel has its own position.
    expect((await engine.position('sb:ch:test-other')).offset).toBe(0);
    await publish('{"n":1}');
    expect(await engine.position(channel)).toEqual({ epoch: first.epoch, offset: 1 });
    // Nothing after the latest offset: recovered, with no frames.
    expect(await engine.history(channel, { epoch: first.epoch, since: 1 })).toEqual({
      recovered: true, epoch: first.epoch, offset: 1, messages: [],
    });
  });

  it('writes each frame to the history in the step that assigns its offset; subscribers get the same message', async () => {
    const live: ChannelMessage[] = [];
    await engine.subscribe(channel, (m) => live.push(m));
    const result = await publish('{"n":1}', '{ }', '{"n":"x\\ud800 é"}');
    expect(result.offsets).toEqual([1, 2, 3]);
    const { epoch } = await engine.position(channel);
    const history = await engine.history(channel, { epoch, since: 0 });
    expect(history).toEqual({
      recovered: true,
      epoch,
      offset: 3,
      messages: [
        { epoch, offset: 1, frame: '{"n":1,"offset":1}' },
        { epoch, offset: 2, frame: '{"offset":2}' },
        { epoch, offset: 3, frame: '{"n":"x\\ud800 é","offset":3}' },
      ],
    });
    await waitFor(() => live.length === 3, { what: 'three live messages' });
    expect(live).toEqual((history as { messages: ChannelMessage[] }).messages);
    expect(await engine.history(channel, { epoch, since: 2 })).toMatchObject({ recovered: true, messages: [{ offset: 3 }] });
  });

  it('keeps only the newest HISTORY_SIZE frames: older positions are not recovered', async () => {
    await publishN(1, 8);
    const { epoch } = await engine.position(channel);
    // Size 5: frames 4..8 are kept. From 3 on, every missed frame is there.
    const from3 = await engine.history(channel, { epoch, since: 3 });
    expect(from3.recovered && from3.messages.map((m) => m.offset)).toEqual([4, 5, 6, 7, 8]);
    expect(await engine.history(channel, { epoch, since: 2 })).toEqual({ recovered: false, epoch, offset: 8 });
    expect(await engine.history(channel, { epoch, since: 0 })).toEqual({ recovered: false, epoch, offset: 8 });
    const from7 = await engine.history(channel, { epoch, since: 7 });
    expect(from7.recovered && from7.messages.map((m) => m.frame)).toEqual(['{"n":8,"offset":8}']);
  });

  it('answers recovered:false with the current position for a wrong epoch, a future offset or a malformed one', async () => {
    await publishN(1, 2);
    const { epoch } = await engine.position(channel);
    const notRecovered = { recovered: false, epoch, offset: 2 };
    expect(await engine.history(channel, { epoch: 'another-epoch', since: 1 })).toEqual(notRecovered);
    expect(await engine.history(channel, { epoch: '', since: 2 })).toEqual(notRecovered);
    expect(await engine.history(channel, { epoch, since: 3 })).toEqual(notRecovered);
    for (const since of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(await engine.history(channel, { epoch, since })).toEqual(notRecovered);
    }
  });

  it('forgets the history HISTORY_TTL_S after the last frame, keeping epoch and offset', async () => {
    const limits = { size: 5, ttlS: name === 'memory' ? 300 : 1 };
    const short = name === 'memory' ? new MemoryEngine({ history: limits }) : redisEngine(name, limits);
    await short.connect();
    try {
      if (name === 'memory') vi.useFakeTimers({ toFake: ['Date'] });
      const send = (n: number) => short.commit({ guard: { kind: 'none' }, ops: [], publish: { channel, frame: `{"n":${n}}` } });
      await send(1);
      const { epoch } = await short.position(channel);
      if (name === 'memory') {
        vi.advanceTimersByTime(200_000);
        await send(2); // a write renews the TTL
        vi.advanceTimersByTime(299_000);
        expect(await short.history(channel, { epoch, since: 0 })).toMatchObject({ recovered: true, offset: 2 });
        vi.advanceTimersByTime(1_000);
      } else {
        await send(2);
        const ttl = await (async () => {
          const admin = adminClient(name);
          try {
            return await admin.pttl((short as RedisEngine).channelNames(channel).history);
          } finally {
            admin.disconnect();
          }
        })();
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(1_000);
        await waitFor(async () => !(await short.history(channel, { epoch, since: 0 })).recovered, { what: 'the history to expire' });
      }
      expect(await short.history(channel, { epoch, since: 1 })).toEqual({ recovered: false, epoch, offset: 2 });
      // Nothing missed: still recovered.
      expect(await short.history(channel, { epoch, since: 2 })).toEqual({ recovered: true, epoch, offset: 2, messages: [] });
      await send(3);
      expect(await short.history(channel, { epoch, since: 2 })).toMatchObject({ recovered: true, messages: [{ offset: 3, epoch }] });
    } finally {
      await short.close();
    }
  });

  it('starts a new epoch when the channel\'s state is lost', async () => {
    await publishN(1, 3);
    const before = await engine.position(channel);
    let after: Engine = engine;
    if (name !== 'memory') {
      await flush(name);
    } else {
      // The memory engine's state lives as long as its process: a new one starts afresh.
      after = new MemoryEngine();
      await after.connect();
    }
    try {
      const now = await after.position(channel);
      expect(now.offset).toBe(0);
      expect(now.epoch).not.toBe(before.epoch);
      expect(await after.history(channel, { epoch: before.epoch, since: 3 })).toEqual({ recovered: false, epoch: now.epoch, offset: 0 });
      const result = await after.commit({ guard: { kind: 'none' }, ops: [], publish: { channel, frame: '{"n":"new"}' } });
      expect(result.offsets).toEqual([1]);
      expect(await after.history(channel, { epoch: now.epoch, since: 0 })).toEqual({
        recovered: true, epoch: now.epoch, offset: 1, messages: [{ epoch: now.epoch, offset: 1, frame: '{"n":"new","offset":1}' }],
      });
    } finally {
      if (after !== engine) await after.close();
    }
  });

  it('reads a new epoch from its start for a client of an older epoch that asks acrossEpochs, when its history is complete', async () => {
    await publishN(1, 3);
    const before = await engine.position(channel);
    let after: Engine = engine;
    if (name !== 'memory') {
      await flush(name);
    } else {
      after = new MemoryEngine({ history: { size: 5, ttlS: 300 } });
      await after.connect();
    }
    try {
      const now = await after.position(channel);
      const old = { epoch: before.epoch, since: 3, acrossEpochs: true };
      // Nothing accepted in the new epoch yet: nothing to replay, and it says so.
      expect(await after.history(channel, old)).toEqual({ recovered: true, epoch: now.epoch, offset: 0, messages: [], epochChanged: true });
      const send = (n: number) => after.commit({ guard: { kind: 'none' }, ops: [], publish: { channel, frame: `{"n":${n}}` } });
      for (const n of [1, 2]) await send(n);
      expect(await after.history(channel, old)).toEqual({
        recovered: true,
        epoch: now.epoch,
        offset: 2,
        epochChanged: true,
        messages: [
          { epoch: now.epoch, offset: 1, frame: '{"n":1,"offset":1}' },
          { epoch: now.epoch, offset: 2, frame: '{"n":2,"offset":2}' },
        ],
      });
      // Without acrossEpochs, or with a malformed since: as before.
      expect(await after.history(channel, { epoch: before.epoch, since: 3 })).toEqual({ recovered: false, epoch: now.epoch, offset: 2 });
      expect(await after.history(channel, { ...old, since: -1 })).toEqual({ recovered: false, epoch: now.epoch, offset: 2 });
      // Same epoch: acrossEpochs changes nothing.
      expect(await after.history(channel, { epoch: now.epoch, since: 1, acrossEpochs: true })).toEqual({
        recovered: true, epoch: now.epoch, offset: 2, messages: [{ epoch: now.epoch, offset: 2, frame: '{"n":2,"offset":2}' }],
      });
      // The new epoch's history no longer holds offset 1 (size 5 on memory; trimmed on Redis): not recovered.
      if (name === 'memory') {
        for (const n of [3, 4, 5, 6]) await send(n);
      } else {
        const admin = adminClient(name);
        try {
          await admin.xtrim((after as RedisEngine).channelNames(channel).history, 'MAXLEN', 1);
        } finally {
          admin.disconnect();
        }
      }
      const cut = await after.history(channel, old);
      expect(cut).toEqual({ recovered: false, epoch: now.epoch, offset: cut.offset });
      expect(cut.offset).toBeGreaterThan(1);
    } finally {
      if (after !== engine) await after.close();
    }
  });

  it('answers a subscription probe with a round trip', async () => {
    expect(await engine.probeSubscription(5_000)).toBe(true);
    expect(await engine.probeSubscription(5_000)).toBe(true);
  });
});

describe('redis engine: failures never lose an entry, and subscriptions come back', () => {
  let engine: RedisEngine;
  beforeEach(async () => {
    const admin = redis.client();
    await admin.flushall();
    admin.disconnect();
    engine = new RedisEngine({ url: redis.url, logger });
    await engine.connect();
  });
  afterEach(async () => {
    await engine.close();
  });

  const pendingFor = async (consumer: string): Promise<string[]> => {
    const admin = redis.client();
    try {
      const rows = (await admin.xpending(INGEST_STREAM, INGEST_GROUP, '-', '+', 100, consumer)) as [string][];
      return rows.map(([id]) => id);
    } finally {
      admin.disconnect();
    }
  };

  it('refuses a commit that cannot be applied whole: nothing written, the entry still pending', async () => {
    const admin = redis.client();
    await admin.rpush('sb:test:a-list', 'x');
    await engine.appendIngest({ body: 'x' });
    const [entry] = await engine.readIngest('c1', 1, 100);
    const guard = { kind: 'entry' as const, streamId: entry!.streamId, consumer: 'c1' };
    const seen: ChannelMessage[] = [];
    await engine.subscribe('sb:ch:test-refused', (m) => seen.push(m));
    // The second op hits a key of another type: refused before the first op is written.
    await expect(
      engine.commit({
        guard,
        ops: [{ op: 'incr', key: 'sb:test:count' }, { op: 'zadd', key: 'sb:test:a-list', score: 1, member: 'm' }],
        publish: { channel: 'sb:ch:test-refused', frame: '{"n":1}' },
      }),
    ).rejects.toThrow(/commit refused/);
    // Numbers that are not whole are refused before anything reaches Redis.
    await expect(engine.commit({ guard, ops: [{ op: 'incr', key: 'sb:test:count', by: 1.5 }] })).rejects.toThrow(TypeError);
    await expect(engine.commit({ guard, ops: [], publish: { channel: 'sb:ch:test-refused', frame: '[1]' } })).rejects.toThrow(TypeError);
    expect(await admin.get('sb:test:count')).toBeNull();
    expect(await pendingFor('c1')).toEqual([entry!.streamId]);
    expect((await engine.position('sb:ch:test-refused')).offset).toBe(0);

    // Retried whole, it applies once, and only then is acknowledged.
    const retried = await engine.commit({
      guard,
      ops: [{ op: 'incr', key: 'sb:test:count' }, { op: 'pfadd', key: 'sb:test:hll', member: 'x\ud800' }],
      publish: { channel: 'sb:ch:test-refused', frame: '{"v":"x\\ud800"}' },
    });
    expect(retried).toMatchObject({ applied: true, offsets: [1] });
    expect(await admin.get('sb:test:count')).toBe('1');
    expect(await pendingFor('c1')).toEqual([]);
    await waitFor(() => seen.length === 1, { what: 'the frame' });
    expect(seen[0]!.frame).toBe('{"v":"x\\ud800","offset":1}');
    admin.disconnect();
  });

  it('fails every caller of a channel whose SUBSCRIBE failed, and subscribes again on a later call', async () => {
    // A user that may not subscribe to the channel (Redis ACL) until it is allowed to.
    const admin = redis.client();
    const user = `sub-${process.pid}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', 'resetchannels', '&sb:ok:*', '+@all');
    const limited = new RedisEngine({ url: `redis://${user}:pw@127.0.0.1:${redis.port}`, logger });
    try {
      await limited.connect();
      const channel = 'sb:ch:test-denied';
      const first: ChannelMessage[] = [];
      const second: ChannelMessage[] = [];
      // Two handlers at once: the second must not be told it is subscribed when the SUBSCRIBE fails.
      const outcomes = await Promise.allSettled([
        limited.subscribe(channel, (m) => first.push(m)),
        limited.subscribe(channel, (m) => second.push(m)),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/NOPERM/);

      // Once allowed, a later call subscribes for real: frames reach it, and only it.
      await admin.call('ACL', 'SETUSER', user, 'allchannels');
      await limited.subscribe(channel, (m) => second.push(m));
      await limited.commit({ guard: { kind: 'none' }, ops: [], publish: { channel, frame: '{"n":1}' } });
      await waitFor(() => second.length === 1, { what: 'the frame on the channel subscribed again' });
      expect(second[0]!.frame).toBe('{"n":1,"offset":1}');
      expect(first).toEqual([]);
    } finally {
      await limited.close();
      await admin.call('ACL', 'DELUSER', user);
      admin.disconnect();
    }
  });

  it('leaves the entry pending when the script itself fails (Redis error mid-commit)', async () => {
    const admin = redis.client();
    await engine.appendIngest({ body: 'x' });
    const [entry] = await engine.readIngest('c1', 1, 100);
    // A channel position that is not a counter makes HINCRBY fail after the checks passed.
    await admin.hset(channelKeys('sb:ch:test-broken').position, 'epoch', 'e1', 'offset', 'not-a-number');
    await expect(
      engine.commit({
        guard: { kind: 'entry', streamId: entry!.streamId, consumer: 'c1' },
        ops: [],
        publish: { channel: 'sb:ch:test-broken', frame: '{"n":1}' },
      }),
    ).rejects.toThrow();
    expect(await pendingFor('c1')).toEqual([entry!.streamId]);
    admin.disconnect();
  });

  it('restores subscriptions after CLIENT KILL TYPE pubsub, tells listeners, and the gap is in the history', async () => {
    const channel = 'sb:ch:test-restore';
    const live: number[] = [];
    await engine.subscribe(channel, (m) => live.push(m.offset));
    let restored = 0;
    const stop = engine.onSubscriptionsRestored(() => {
      restored += 1;
    });
    const send = () => engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel, frame: '{}' } });
    await send();
    await waitFor(() => live.length === 1, { what: 'the first frame' });
    const admin = redis.client();
    await admin.client('KILL', 'TYPE', 'pubsub');
    await send(); // published while the subscriber may be away
    await waitFor(() => restored === 1, { what: 'subscriptions restored' });
    await send();
    await waitFor(() => live.includes(3), { what: 'a frame after the restore' });
    const { epoch } = await engine.position(channel);
    const missed = await engine.history(channel, { epoch, since: 1 });
    expect(missed.recovered && missed.messages.map((m) => m.offset)).toEqual([2, 3]);
    expect(await engine.probeSubscription(5_000)).toBe(true);
    const channels = (await admin.pubsub('CHANNELS', 'sb:*')) as string[];
    expect(channels).toContain(channel);
    stop();
    admin.disconnect();
  });

  it('fails a probe while Redis is away, and passes again once it is back', async () => {
    expect(await engine.probeSubscription(5_000)).toBe(true);
    await redis.kill();
    try {
      const started = Date.now();
      expect(await engine.probeSubscription(500)).toBe(false);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await redis.restart();
    }
    await waitFor(() => engine.probeSubscription(1_000), { what: 'the probe to pass again' });
  });

  it('recreates the stream and its group when a takeover finds them gone (Redis came back empty)', async () => {
    const admin = redis.client();
    await admin.flushall();
    expect(await engine.takeOverDeadConsumers('c1', 10)).toEqual({ consumers: [], entries: [] });
    const groups = (await admin.xinfo('GROUPS', INGEST_STREAM)) as unknown[][];
    expect(groups[0]).toContain(INGEST_GROUP);
    admin.disconnect();
  });

  it('drops a message published on a raw channel without the engine header', async () => {
    const seen: ChannelMessage[] = [];
    await engine.subscribe('sb:ch:test-forged', (m) => seen.push(m));
    const admin = redis.client();
    await admin.publish('sb:ch:test-forged', '{"type":"heartbeat","offset":1}');
    await admin.publish('sb:ch:test-forged', 'e1 x {"n":1}');
    await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: 'sb:ch:test-forged', frame: '{"n":2}' } });
    await waitFor(() => seen.length > 0, { what: 'the engine frame' });
    expect(seen.map((m) => m.frame)).toEqual(['{"n":2,"offset":1}']);
    admin.disconnect();
  });
});

describe('cluster engine: slots, shards, sharded pub/sub and failover', () => {
  let engine: RedisEngine;
  beforeEach(async () => {
    await flushCluster();
    engine = redisEngine('cluster');
    await engine.connect();
  });
  afterEach(async () => {
    await engine.close();
  });

  it('keeps a channel, its state keys and its ingest partition on one slot, and spreads the partitions over every master', async () => {
    for (const channel of [CHANNELS.analytics, CHANNELS.logsMetrics, logsChannel('app-1'), logsChannel('app-2')]) {
      const { position, history, pubsub } = engine.channelNames(channel);
      const partition = engine.partitionOf(channel);
      // The documented rule a producer can compute: CLUSTER KEYSLOT of the channel name, mod the partitions.
      expect(partition).toBe((await cluster.keySlot(channel)) % engine.partitions);
      const slot = await cluster.keySlot(engine.ingestStream(partition));
      expect(await Promise.all([position, history, pubsub].map((key) => cluster.keySlot(key)))).toEqual([slot, slot, slot]);
    }
    const analyticsSlot = await cluster.keySlot(engine.channelNames(CHANNELS.analytics).position);
    for (const key of [ANALYTICS_KEYS.totalEvents, ANALYTICS_KEYS.recentVisitors, ANALYTICS_KEYS.uniqueVisitors('2024-01-01')]) {
      expect(await cluster.keySlot(engine.stateKey(key))).toBe(analyticsSlot);
    }
    expect(await cluster.keySlot(engine.stateKey(LOGS_KEYS.history('app-1')))).toBe(await cluster.keySlot(engine.channelNames(logsChannel('app-1')).position));
    // 16 partitions over 3 masters: every master holds some, none more than 7.
    const owners = new Map<number, number>();
    for (let p = 0; p < engine.partitions; p += 1) {
      const port = await cluster.masterOfKey(engine.ingestStream(p));
      owners.set(port, (owners.get(port) ?? 0) + 1);
    }
    expect(owners.size).toBe(3);
    expect(Math.max(...owners.values())).toBeLessThanOrEqual(7);
  });

  it('routes an entry to its channel\'s partition, and commits a batch spanning slots exactly once across redeliveries', async () => {
    const body = JSON.stringify([{ appId: 'app-1', level: 'info' }, { appId: 'app-2', level: 'error' }]);
    const streamId = await engine.appendIngest({ kind: 'logs', body });
    expect(streamId.endsWith(`@${engine.partitionOf(logsChannel('app-1'))}`)).toBe(true);
    const [entry] = await engine.readIngest('w1', 10, 1_000);
    expect(entry?.streamId).toBe(streamId);
    const commit = {
      guard: { kind: 'entry' as const, streamId, consumer: 'w1' },
      ops: [
        { op: 'lpush' as const, key: LOGS_KEYS.history('app-1'), values: ['a'] },
        { op: 'lpush' as const, key: LOGS_KEYS.history('app-2'), values: ['b'] },
        { op: 'incr' as const, key: LOGS_KEYS.messages(1), by: 2 },
      ],
      publish: [
        { channel: logsChannel('app-1'), frame: '{"n":1}' },
        { channel: logsChannel('app-2'), frame: '{"n":2}' },
      ],
    };
    // Not on one slot: several steps (the slots differ, or this test proves nothing).
    const slots = new Set(await Promise.all([logsChannel('app-1'), logsChannel('app-2'), CHANNELS.logsMetrics].map((c) => cluster.keySlot(engine.channelNames(c).position))));
    expect(slots.size).toBeGreaterThan(1);
    const first = await engine.commit(commit);
    expect(first).toEqual({ applied: true, offset: 1, offsets: [1, 1] });
    expect(await engine.commit(commit)).toEqual({ applied: false });
    expect(await engine.readStrings([{ op: 'lrange', key: LOGS_KEYS.history('app-1'), start: 0, stop: -1 }, { op: 'lrange', key: LOGS_KEYS.history('app-2'), start: 0, stop: -1 }])).toEqual([['a'], ['b']]);
    expect(await engine.read([{ op: 'get', key: LOGS_KEYS.messages(1) }])).toEqual([2]);
    expect((await engine.ingestBacklog()).pending).toBe(0);
  });

  it('applies the other slots\' steps once when a commit is retried after its own step failed', async () => {
    const streamId = await engine.appendIngest({ kind: 'analytics', body: '{}' });
    await engine.readIngest('w1', 10, 1_000);
    const other = logsChannel('elsewhere');
    expect(engine.partitionOf(other)).not.toBe(engine.partitionOf(CHANNELS.analytics));
    // The home step is refused (the analytics history key holds a string), so the entry stays pending.
    const admin = clusterClient(cluster);
    try {
      await admin.set(engine.channelNames(CHANNELS.analytics).history, 'not a stream');
      const commit = {
        guard: { kind: 'entry' as const, streamId, consumer: 'w1' },
        ops: [],
        publish: [{ channel: other, frame: '{"side":1}' }, { channel: CHANNELS.analytics, frame: '{"home":1}' }],
      };
      await expect(engine.commit(commit)).rejects.toThrow(/commit refused/);
      expect((await engine.ingestBacklog()).pending).toBe(1);
      await admin.del(engine.channelNames(CHANNELS.analytics).history);
      expect((await engine.commit(commit)).applied).toBe(true);
      // The other channel got its frame once, not once per attempt.
      expect((await engine.position(other)).offset).toBe(1);
      expect((await engine.position(CHANNELS.analytics)).offset).toBe(1);
      expect((await engine.ingestBacklog()).pending).toBe(0);
    } finally {
      admin.disconnect();
    }
  });

  it('subscribes with SSUBSCRIBE on the shard of the channel only, and leaves it when the last handler goes', async () => {
    const channel = logsChannel('sharded');
    const { pubsub } = engine.channelNames(channel);
    const owner = await cluster.masterOfKey(pubsub);
    const handler = () => undefined;
    await engine.subscribe(channel, handler);
    const shardChannels = async (port: number) => {
      const client = nodeClient(port);
      try {
        return (await client.call('PUBSUB', 'SHARDCHANNELS')) as string[];
      } finally {
        client.disconnect();
      }
    };
    await waitFor(async () => (await shardChannels(owner)).includes(pubsub), { what: 'the shard channel on its master' });
    for (const master of await cluster.masters()) {
      if (master.port !== owner) expect(await shardChannels(master.port)).not.toContain(pubsub);
    }
    await engine.unsubscribe(channel, handler);
    await waitFor(async () => !(await shardChannels(owner)).includes(pubsub), { what: 'the shard channel to be left' });
  });

  it('reads every partition without a blocking connection per partition: appends wake the reader, a bare XADD is read at the next sweep', async () => {
    // A blocked read, woken by appends to partitions on different masters.
    const channels = [CHANNELS.analytics, logsChannel('app-1'), logsChannel('app-2'), logsChannel('app-3')];
    const masters = new Set(await Promise.all(channels.map((c) => cluster.masterOfKey(engine.ingestStream(engine.partitionOf(c))))));
    expect(masters.size, 'partitions on several masters').toBeGreaterThan(1);
    await engine.readIngest('w1', 10, 0); // subscribed to the wake-ups, nothing to read yet
    for (const [n, channel] of channels.entries()) {
      const started = Date.now();
      const reading = engine.readIngest('w1', 10, 10_000);
      await new Promise((r) => setTimeout(r, 50));
      const id = await engine.appendIngest({ kind: 'test', body: String(n) }, channel);
      expect((await reading).map((e) => e.streamId)).toEqual([id]);
      // Woken, not found by a sweep (which waits the whole 10 s).
      expect(Date.now() - started).toBeLessThan(5_000);
    }

    // Idempotent appends wake it too.
    const reading = engine.readIngest('w1', 10, 10_000);
    await new Promise((r) => setTimeout(r, 50));
    const once = await engine.appendIngestOnce({ kind: 'test', body: 'once' }, { key: 'sb:test:wake-once', ttlS: 60, value: 'v' }, logsChannel('app-4'));
    expect(once.duplicate).toBe(false);
    expect((await reading).map((e) => e.fields['body'])).toEqual(['once']);

    // A producer that XADDs alone (no wake-up) is read once the block time has passed.
    const admin = clusterClient(cluster);
    try {
      await admin.xadd(engine.ingestStream(engine.partitionOf(logsChannel('app-5'))), '*', 'kind', 'test', 'body', 'bare');
      const started = Date.now();
      let bare: string[] = [];
      while (bare.length === 0 && Date.now() - started < 10_000) bare = (await engine.readIngest('w1', 10, 500)).map((e) => e.fields['body'] ?? '');
      expect(bare).toEqual(['bare']);

      // Many entries in one partition come in batches of `count`, none lost, in order.
      const app = logsChannel('app-6');
      for (let n = 0; n < 25; n += 1) await engine.appendIngest({ kind: 'test', body: `b${n}` }, app);
      const bodies: string[] = [];
      while (bodies.length < 25) {
        const batch = await engine.readIngest('w1', 10, 1_000);
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(10);
        bodies.push(...batch.map((e) => e.fields['body'] ?? ''));
      }
      expect(bodies).toEqual(Array.from({ length: 25 }, (_, n) => `b${n}`));

      // The engine holds one command and one sharded-subscriber connection per master, no
      // blocking reader per partition.
      const names = (await Promise.all((await cluster.masters()).map(async ({ port }) => {
        const node = nodeClient(port);
        try {
          return String(await node.client('LIST')).split('\n').map((line) => /name=(\S*)/.exec(line)?.[1] ?? '').filter((name) => name.startsWith('switchboard-'));
        } finally {
          node.disconnect();
        }
      }))).flat();
      expect(names.filter((name) => name.includes('blocking'))).toEqual([]);
      expect(names.filter((name) => name === 'switchboard-command').length).toBeLessThanOrEqual(3);
    } finally {
      admin.disconnect();
    }
  });

  // Last: it moves a master to its replica (the restarted node comes back as a replica).
  it('survives a master kill -9: down while its slots are unserved, subscriptions restored, commits applied once or left pending', async () => {
    const channel = CHANNELS.analytics;
    const received: ChannelMessage[] = [];
    await engine.subscribe(channel, (m) => received.push(m));
    let restored = 0;
    engine.onSubscriptionsRestored(() => (restored += 1));
    expect(await engine.probeSubscription(5_000)).toBe(true);
    const victim = await cluster.masterOfKey(engine.channelNames(channel).position);

    // Traffic through the failover: every entry is either committed once or still pending.
    const appended: string[] = [];
    let stop = false;
    const traffic = (async () => {
      for (let n = 0; !stop; n += 1) {
        try {
          appended.push(await engine.appendIngest({ kind: 'analytics', body: String(n) }));
        } catch {
          // Refused while the slot has no master: not acknowledged, so nothing is owed.
        }
        try {
          for (const entry of await engine.readIngest('w1', 50, 0)) {
            await engine.commit({ guard: { kind: 'entry', streamId: entry.streamId, consumer: 'w1' }, ops: [{ op: 'incr', key: ANALYTICS_KEYS.totalEvents }], publish: { channel, frame: `{"b":${entry.fields['body']}}` } }).catch(() => undefined);
          }
        } catch {
          // Read failed during the failover: the entries stay pending for this consumer.
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor(() => appended.length >= 5, { what: 'traffic before the kill' });
    const promoted = cluster.killMaster(victim);
    await waitFor(() => engine.health() === 'down', { what: 'health down while the slots are unserved', intervalMs: 20 });
    await promoted;
    await waitFor(() => engine.health() === 'up', { what: 'health up after the promotion', timeoutMs: 30_000 });
    await waitFor(() => restored > 0, { what: 'subscriptions restored', timeoutMs: 30_000 });
    await waitFor(() => engine.probeSubscription(2_000), { what: 'a probe round trip after the failover', timeoutMs: 30_000 });
    const before = appended.length;
    await waitFor(() => appended.length >= before + 5, { what: 'traffic after the failover', timeoutMs: 30_000 });
    stop = true;
    await traffic;

    // Drain what is left pending (entries whose commit failed mid-failover) with the same guard.
    await waitFor(async () => {
      for (const entry of await engine.claimStaleIngest('w2', 0, 1_000)) {
        await engine.commit({ guard: { kind: 'entry', streamId: entry.streamId, consumer: 'w2' }, ops: [{ op: 'incr', key: ANALYTICS_KEYS.totalEvents }], publish: { channel, frame: `{"b":${entry.fields['body']}}` } });
      }
      return (await engine.ingestBacklog()).pending === 0;
    }, { what: 'every pending entry committed' });
    // Every entry the stream still holds was applied exactly once: counter = offsets = entries.
    const { offset } = await engine.position(channel);
    const [total] = await engine.read([{ op: 'get', key: ANALYTICS_KEYS.totalEvents }]);
    expect(total).toBe(offset);
    const admin = clusterClient(cluster);
    try {
      expect(await admin.xlen(engine.ingestStream(engine.partitionOf(channel)))).toBe(offset);
    } finally {
      admin.disconnect();
    }
    // Frames published after the restore reach the subscriber; the history holds the rest.
    await waitFor(() => received.some((m) => m.offset === offset), { what: 'the last frame live' });
    await cluster.restartNode(victim);
  });
});
