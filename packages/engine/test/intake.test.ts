import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CHANNELS, INGEST_DEAD_LETTER_STREAM, INGEST_GROUP, INGEST_STREAM } from '@switchboard/protocol';
import { MemoryEngine, RedisEngine, type StreamEntry } from '../src/index.js';
import { RedisServer } from '../../../test/support/redis-server.js';
import { clusterClient, nodeClient, startRedisCluster, type LocalRedisCluster } from '../../../test/support/redis-cluster.js';

/**
 * The intake of a Redis Cluster: entries producers append to `sb:ingest` directly, as on one
 * Redis, are forwarded into their partition once each, also when the forwarder dies between the
 * append and the acknowledgement; entries that cannot be routed are dead-lettered with a reason.
 */
const logger = pino({ level: 'silent' });
let cluster: LocalRedisCluster;
let redis: RedisServer;
const engines: RedisEngine[] = [];

beforeAll(async () => {
  [cluster, redis] = await Promise.all([startRedisCluster(), RedisServer.start()]);
}, 240_000);
beforeEach(async () => {
  for (const master of await cluster.masters()) {
    const node = nodeClient(master.port);
    await node.flushall().finally(() => node.disconnect());
  }
});
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  await Promise.all([cluster?.stop(), redis?.stop()]);
});

async function clusterEngine(): Promise<RedisEngine> {
  const engine = new RedisEngine({ cluster: { nodes: cluster.runningPorts().map((port) => ({ host: '127.0.0.1', port })) }, logger });
  engines.push(engine);
  await engine.connect();
  return engine;
}

/** Every entry of every partition, read through the group as a worker would. */
async function readAll(engine: RedisEngine): Promise<StreamEntry[]> {
  const entries: StreamEntry[] = [];
  for (let batch = await engine.readIngest('reader', 100, 0); batch.length > 0; batch = await engine.readIngest('reader', 100, 0)) entries.push(...batch);
  return entries;
}

const pageView = (id: string, visitor: string) => ['kind', 'analytics', 'id', id, 'body', JSON.stringify({ type: 'page_view', visitor_id: visitor })];

describe('cluster intake (sb:ingest on a Redis Cluster)', () => {
  it('forwards a direct XADD into its channel\'s partition, keeping its fields and its time', async () => {
    const engine = await clusterEngine();
    expect(engine.hasIntake).toBe(true);
    const admin = clusterClient(cluster);
    try {
      const id = randomUUID();
      const intakeId = (await admin.xadd(INGEST_STREAM, '*', ...pageView(id, 'v1')))!;
      expect(await engine.forwardIntake('w1', 10, 1_000)).toEqual({ forwarded: 1, duplicates: 0, deadLettered: 0, consumers: [] });
      const [entry, ...rest] = await readAll(engine);
      expect(rest).toEqual([]);
      expect(entry!.streamId.endsWith(`@${engine.partitionOf(CHANNELS.analytics)}`)).toBe(true);
      expect(entry!.fields).toMatchObject({ kind: 'analytics', id, at: intakeId.split('-')[0] });
      // Acknowledged on the intake: nothing pending, nothing undelivered.
      expect(await engine.intakeBacklog()).toEqual({ pending: 0, lag: 0 });
    } finally {
      admin.disconnect();
    }
  });

  it('dead-letters what cannot be routed; appends once when the forwarder dies between the append and the acknowledgement', async () => {
    const engine = await clusterEngine();
    const admin = clusterClient(cluster);
    try {
      // An entry that cannot be routed: dead-lettered with the field and what is wrong with it.
      const broken = (await admin.xadd(INGEST_STREAM, '*', 'kind', 'nonsense', 'body', '{}'))!;
      expect(await engine.forwardIntake('w1', 10, 1_000)).toEqual({ forwarded: 0, duplicates: 0, deadLettered: 1, consumers: [] });
      const letters = await admin.xrange(INGEST_DEAD_LETTER_STREAM, '-', '+');
      expect(letters).toHaveLength(1);
      const letter = Object.fromEntries(letters[0]![1].flatMap((v, i, flat) => (i % 2 === 0 ? [[v, flat[i + 1]]] : []))) as Record<string, string>;
      expect(letter).toMatchObject({ source_id: broken, kind: 'nonsense', body: '{}' });
      expect(letter['reason']).toMatch(/^kind: /);

      const ids = [randomUUID(), randomUUID(), randomUUID()];
      for (const [n, id] of ids.entries()) await admin.xadd(INGEST_STREAM, '*', ...pageView(id, `v${n}`));

      // The first forwarder appends, then "dies" before its XACK reaches Redis.
      vi.spyOn(Cluster.prototype, 'xack').mockRejectedValueOnce(new Error('killed before XACK'));
      await expect(engine.forwardIntake('dying', 10, 1_000)).rejects.toThrow(/killed before XACK/);
      vi.restoreAllMocks();
      expect(await engine.intakeBacklog()).toMatchObject({ pending: 3 });

      // Another worker finds the consumer dead (never announced) and takes its entries over:
      // the markers answer "appended already", so nothing is appended twice.
      const recovered = await engine.recoverIntake('taker', 60_000, 10);
      expect(recovered).toEqual({ forwarded: 0, duplicates: 3, deadLettered: 0, consumers: ['dying'] });
      expect((await readAll(engine)).map((e) => e.fields['id']).sort()).toEqual([...ids].sort());
      expect(await engine.intakeBacklog()).toEqual({ pending: 0, lag: 0 });

    } finally {
      admin.disconnect();
    }
  });

  it('takes over entries a dead worker read and never forwarded; a live worker keeps its own', async () => {
    const engine = await clusterEngine();
    await engine.announceConsumer('alive', 60_000);
    const admin = clusterClient(cluster);
    try {
      const ids = [randomUUID(), randomUUID()];
      for (const [n, id] of ids.entries()) await admin.xadd(INGEST_STREAM, '*', ...pageView(id, `d${n}`));
      // Read by a worker that died at once (never announced), and one by a live worker.
      await admin.xreadgroup('GROUP', INGEST_GROUP, 'ghost', 'COUNT', 1, 'STREAMS', INGEST_STREAM, '>');
      await admin.xreadgroup('GROUP', INGEST_GROUP, 'alive', 'COUNT', 1, 'STREAMS', INGEST_STREAM, '>');
      expect(await engine.recoverIntake('taker', 60_000, 10)).toEqual({ forwarded: 1, duplicates: 0, deadLettered: 0, consumers: ['ghost'] });
      expect(await engine.intakeBacklog()).toEqual({ pending: 1, lag: 0 });
      // Idle past the claim time, the live worker's entry is taken too.
      await new Promise((r) => setTimeout(r, 300));
      expect(await engine.recoverIntake('taker', 200, 10)).toMatchObject({ forwarded: 1, consumers: [] });
      expect(await engine.intakeBacklog()).toEqual({ pending: 0, lag: 0 });
    } finally {
      admin.disconnect();
    }
  });

  it('has no intake on one Redis (sb:ingest is the ingest itself) nor in memory', async () => {
    const single = new RedisEngine({ url: redis.url, logger });
    engines.push(single);
    await single.connect();
    const memory = new MemoryEngine();
    for (const engine of [single, memory]) {
      expect(engine.hasIntake).toBe(false);
      expect(await engine.forwardIntake('w', 10, 0)).toEqual({ forwarded: 0, duplicates: 0, deadLettered: 0, consumers: [] });
      expect(await engine.intakeBacklog()).toBeUndefined();
    }
    expect(single.ingestStream(0)).toBe(INGEST_STREAM);
  });
});
