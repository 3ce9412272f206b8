import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { FrameRecorder } from '../support/frame-recorder.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * A hostile producer, over HTTP or writing to the ingest stream directly, can neither lose an
 * accepted event, nor send clients invalid JSON, nor forge a server frame: whatever cannot be
 * delivered is refused with a 400 or dead-lettered as invalid at once, never acknowledged and lost.
 */
let redisServer: RedisServer;
let redis: Redis;
let gateway: NodeProcess;
let worker: NodeProcess;
const recorders: FrameRecorder[] = [];
/** Watches every analytics frame; `filtered` only page_view events (and heartbeats). */
let analytics: FrameRecorder;
let filtered: FrameRecorder;
let availability: FrameRecorder;

const LONE = 'x\ud800';
const AVAILABILITY_BODY = { tourId: 't1', tourTitle: 'Tour', availableSeats: 1, maxGroupSize: 10, threshold: 2 };

async function watch(path: string): Promise<FrameRecorder> {
  const recorder = await FrameRecorder.connect(gateway.wsUrl(path));
  recorders.push(recorder);
  return recorder;
}

/** XADDs an entry straight onto the ingest stream, as a producer in another language would. */
const xadd = (fields: Record<string, string>, streamId = '*'): Promise<string> =>
  redis.xadd('sb:ingest', streamId, ...Object.entries(fields).flat()) as Promise<string>;

/** The dead letter of a stream entry, once the worker has set it aside. */
async function deadLetter(sourceId: string): Promise<Record<string, string>> {
  return waitFor(
    async () => {
      const entries = await redis.xrange('sb:ingest:dead', '-', '+');
      for (const [, flat] of entries) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
        if (fields['source_id'] === sourceId) return fields;
      }
      return undefined;
    },
    { what: `dead letter of ${sourceId}`, timeoutMs: 20_000 },
  );
}

const failed = async (kind: string, reason: string): Promise<number> =>
  metricValue(await worker.metrics(), `switchboard_worker_events_failed_total{kind="${kind}",reason="${reason}"}`) ?? 0;

/** Proves the pipeline is still delivering, and that everything before the marker was handled. */
async function marker(): Promise<void> {
  const visitor = `marker-${randomUUID()}`;
  const res = await post(gateway.url, '/events', { type: 'page_view', visitor_id: visitor });
  expect(res.status).toBe(202);
  await analytics.next((f) => f['visitor_id'] === visitor, { what: `marker ${visitor}` });
}

beforeAll(async () => {
  redisServer = await RedisServer.start();
  redis = redisServer.client();
  const env = {
    REDIS_URL: redisServer.url,
    INGEST_API_KEYS: PRODUCER_KEY,
    HEARTBEAT_INTERVAL_MS: '1000',
    // A failing entry would be retried after this: short, so a retry would show within the test.
    INGEST_CLAIM_IDLE_MS: '1000',
    LOG_LEVEL: 'warn',
  };
  [gateway, worker] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)]);
  analytics = await watch('/ws/analytics');
  filtered = await watch('/ws/analytics');
  await filtered.next((f) => f['type'] === 'initial_stats');
  filtered.send({ type: 'subscribe', events: ['page_view'] });
  await filtered.next((f) => f['type'] === 'subscribed');
  availability = await watch('/ws/availability');
  await availability.next((f) => f['type'] === 'connection');
});

afterAll(async () => {
  for (const r of recorders) r.close();
  redis?.disconnect();
  await Promise.all([gateway, worker].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redisServer?.stop();
});

describe('strings that are not well-formed Unicode', () => {
  it.each([
    ['/events', { type: 'page_view', visitor_id: LONE }, 'visitor_id'],
    ['/events', { type: 'page_view', visitor_id: 'v', data: { nested: [{ deep: LONE }] } }, 'data.nested.0.deep'],
    ['/events', { type: 'page_view', visitor_id: 'v', [LONE]: 1 }, 'x\ufffd'],
    ['/report', { service: 'api', level: 'error', error: { message: 'boom', stack: `at ${LONE}` } }, 'error.stack'],
    ['/logs', [{ appId: 'app', level: 'info', message: 'ok' }, { appId: 'app', level: 'info', message: LONE }], '1.message'],
    ['/jobs/job-1/events', { type: 'job_started', data: { url: LONE } }, 'data.url'],
    ['/availability', { ...AVAILABILITY_BODY, tourTitle: LONE }, 'tourTitle'],
  ])('%s answers 400 naming the field (%#)', async (path, body, field) => {
    const res = await post(gateway.url, path, body);
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe(`${field}: expected well-formed Unicode (a lone surrogate)`);
  });

  it('a direct XADD with one is dead-lettered as invalid at once, not retried, and nothing is lost', async () => {
    const before = await failed('analytics', 'invalid');
    const id = await xadd({ kind: 'analytics', body: JSON.stringify({ type: 'page_view', visitor_id: LONE }) });
    const dead = await deadLetter(id);
    expect(dead['reason']).toBe('visitor_id: expected well-formed Unicode (a lone surrogate)');
    expect(await failed('analytics', 'invalid')).toBe(before + 1);
    expect(await failed('analytics', 'commit_error')).toBe(0);
    expect(((await redis.xpending('sb:ingest', 'workers')) as [number])[0]).toBe(0);
    await marker();
  });
});

describe('nesting', () => {
  it('answers 400 naming the limit for JSON nested past it, before anything is queued', async () => {
    const deep = `{"type":"page_view","visitor_id":"v","data":{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`;
    const res = await post(gateway.url, '/events', deep);
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('data.a: nested deeper than 32 levels');
    const shallow = { type: 'page_view', visitor_id: 'nest-ok', data: { a: JSON.parse(`${'['.repeat(30)}1${']'.repeat(30)}`) as unknown } };
    expect((await post(gateway.url, '/events', shallow)).status).toBe(202);
    await analytics.next((f) => f['visitor_id'] === 'nest-ok');
  });
});

describe('ids on the stream are UUIDs', () => {
  it.each([
    ['availability', 'av"1', AVAILABILITY_BODY],
    ['analytics', 'x","type":"heartbeat', { type: 'page_view', visitor_id: 'forged-id' }],
    ['analytics', 'back\\slash', { type: 'page_view', visitor_id: 'slash-id' }],
    ['analytics', 'not-a-uuid', { type: 'page_view', visitor_id: 'short-id' }],
  ])('a %s entry with id %j is dead-lettered as invalid; clients get no frame from it', async (kind, id, body) => {
    const streamId = await xadd({ kind, id, body: JSON.stringify(body) });
    expect((await deadLetter(streamId))['reason']).toBe('id: expected a UUID');
    await marker();
    for (const r of recorders) expect(r.invalid()).toEqual([]);
    expect(analytics.frames().filter((f) => f['type'] === 'heartbeat' && f['data'] === undefined)).toEqual([]);
  });

  it('a UUID given by a direct producer is kept, on analytics and availability', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await xadd({ kind: 'analytics', id: a, body: JSON.stringify({ type: 'page_view', visitor_id: 'own-id' }) });
    await xadd({ kind: 'availability', id: b, body: JSON.stringify(AVAILABILITY_BODY) });
    expect((await analytics.next((f) => f['visitor_id'] === 'own-id'))['id']).toBe(a);
    expect((await availability.next((f) => f['id'] === b))['type']).toBe('tour.availability.low');
  });
});

describe('producers cannot forge server frames', () => {
  it.each(['heartbeat', 'initial_stats', 'error', 'pong', 'subscribed', 'resumed', 'connection', 'ping', 'Heartbeat'])(
    'POST /events with type %s answers 400 naming the reserved types',
    async (type) => {
      const res = await post(gateway.url, '/events', { type, visitor_id: 'forger', data: { current_visitors: 424242 } });
      expect(res.status).toBe(400);
      expect(res.json['error']).toBe(
        'type: reserved for server frames (initial_stats, heartbeat, pong, ping, error, subscribed, resumed, connection, refresh_stats, subscribe)',
      );
    },
  );

  it('a direct XADD with a reserved type is dead-lettered; no client, filtered or not, sees the forged figures', async () => {
    const forged = { type: 'heartbeat', visitor_id: 'forger', data: { current_visitors: 424242 } };
    const streamId = await xadd({ kind: 'analytics', body: JSON.stringify(forged) });
    expect((await deadLetter(streamId))['reason']).toMatch(/^type: reserved for server frames/);
    await marker();
    // Heartbeats keep arriving at the filtered client: the forged one would have been among them.
    const seen = filtered.texts.length;
    await filtered.next((f) => f['type'] === 'heartbeat', { from: seen });
    for (const r of [analytics, filtered]) {
      expect(r.frames().filter((f) => JSON.stringify(f).includes('424242'))).toEqual([]);
      expect(r.frames().filter((f) => f['visitor_id'] === 'forger')).toEqual([]);
    }
  });
});

describe('an `at` the worker cannot use', () => {
  it.each([
    ['beyond the Date range', { at: '9000000000000000' }],
    ['before 2000', { at: '1000' }],
    ['not a number', { at: 'soon' }],
  ])('%s is dead-lettered as invalid at once', async (_what, fields) => {
    const before = await failed('analytics', 'poison');
    const streamId = await xadd({ kind: 'analytics', ...fields, body: JSON.stringify({ type: 'page_view', visitor_id: 'late' }) });
    const dead = await deadLetter(streamId);
    expect(dead['reason']).toMatch(/^at: /);
    expect(await failed('analytics', 'poison')).toBe(before);
    expect(await failed('analytics', 'commit_error')).toBe(0);
  });

  it('a stream id whose time is beyond the Date range (no `at`) is dead-lettered as invalid at once', async () => {
    // Explicit stream ids must grow: this one sorts after every automatic one.
    const streamId = await xadd({ kind: 'analytics', body: JSON.stringify({ type: 'page_view', visitor_id: 'far-future' }) }, '9000000000000000-0');
    expect((await deadLetter(streamId))['reason']).toMatch(/^at: /);
    expect(await failed('analytics', 'commit_error')).toBe(0);
  });
});
