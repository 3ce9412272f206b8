import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, INGEST_DEAD_LETTER_STREAM } from '@switchboard/protocol';
import { startTestRedis, type TestRedis } from '../support/test-redis.js';
import { NodeProcess } from '../support/node-process.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * The server API on a real gateway (with a real worker and redis-server, or a Redis Cluster in
 * server-api-redis-cluster.test.ts): every route refuses without the admin credential, channel
 * history answers as resuming clients are answered, and dead letters are listed, inspected,
 * requeued once and deleted.
 */
const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
const SECRET = 'server-api-test-secret-0123456789abcdef';
let testRedis: TestRedis;
let redis: Redis | Cluster;
/** Where a producer XADDs analytics entries (a partition's stream on a cluster). */
let ingestStream: string;
let gateway: NodeProcess;
let worker: NodeProcess;

const token = (claims: Record<string, unknown>, expiresIn = 300): string =>
  jwt.sign({ sub: 'operator-1', ...claims }, SECRET, { algorithm: 'HS256', expiresIn });

const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const JWT_ADMIN = { authorization: `Bearer ${token({ roles: ['viewer', 'admin'] })}` };

async function api(
  method: string,
  path: string,
  headers: Record<string, string> = ADMIN,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${gateway.url}/api/v1${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

/** Every route of the API (and a path under the prefix that is none of them). */
const ROUTES: [string, string][] = [
  ['GET', '/channels'],
  ['GET', '/channels/analytics/presence'],
  ['GET', '/channels/analytics/history'],
  ['POST', '/users/alice/disconnect'],
  ['GET', '/dead-letters'],
  ['GET', '/dead-letters/1-0'],
  ['POST', '/dead-letters/1-0/requeue'],
  ['DELETE', '/dead-letters/1-0'],
  ['GET', '/openapi.json'],
  ['GET', '/no-such-route'],
];

interface DeadLetterJson {
  id: string;
  reason: string;
  sourceId: string;
  fields: Record<string, string>;
  at: number;
}

/** The dead letter of an ingest entry, as the API lists it, once the worker set it aside. */
const listedDeadLetter = (sourceId: string): Promise<DeadLetterJson> =>
  waitFor(
    async () => {
      const { json } = await api('GET', '/dead-letters?limit=1000');
      // On a cluster an entry's id names its partition too: `<stream id>@<partition>`.
      return (json['entries'] as DeadLetterJson[]).find((letter) => letter.sourceId === sourceId || letter.sourceId.startsWith(`${sourceId}@`));
    },
    { what: `dead letter of ${sourceId}`, timeoutMs: 30_000 },
  );

/** Analytics frames of one visitor in the channel's history. */
async function framesOf(visitor: string): Promise<unknown[]> {
  const { json } = await api('GET', '/channels/analytics/history?limit=1000');
  return (json['frames'] as Record<string, unknown>[]).filter((f) => JSON.stringify(f).includes(visitor));
}

/** Posts an event and waits until its frame is in the history: everything queued before it was handled. */
async function marker(): Promise<void> {
  const visitor = `marker-${randomUUID()}`;
  expect((await post(gateway.url, '/events', { type: 'page_view', visitor_id: visitor })).status).toBe(202);
  await waitFor(async () => (await framesOf(visitor)).length === 1, { what: `marker ${visitor}`, timeoutMs: 30_000 });
}

beforeAll(async () => {
  testRedis = await startTestRedis();
  redis = testRedis.client();
  ingestStream = testRedis.ingestStream(CHANNELS.analytics);
  const env = {
    ...testRedis.env,
    INGEST_API_KEYS: PRODUCER_KEY,
    ADMIN_TOKEN,
    JWT_SECRET: SECRET,
    HEARTBEAT_INTERVAL_MS: '60000',
    LOG_LEVEL: 'warn',
  };
  [gateway, worker] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)]);
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([gateway, worker].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await testRedis?.stop();
});

describe('admin credential', () => {
  it.each(ROUTES)('%s %s: 401 without a credential', async (method, path) => {
    const res = await api(method, path, {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.json['error']).toEqual(expect.any(String));
  });

  it.each(ROUTES)('%s %s: 401 with a wrong token, an expired admin JWT or another scheme', async (method, path) => {
    expect((await api(method, path, { authorization: 'Bearer not-the-admin-token' })).status).toBe(401);
    expect((await api(method, path, { authorization: `Bearer ${ADMIN_TOKEN}x` })).status).toBe(401);
    expect((await api(method, path, { authorization: `Bearer ${token({ roles: ['admin'] }, -60)}` })).status).toBe(401);
    const forged = jwt.sign({ sub: 'x', roles: ['admin'] }, 'another-secret-another-secret-000000', { expiresIn: 60 });
    expect((await api(method, path, { authorization: `Bearer ${forged}` })).status).toBe(401);
    expect((await api(method, path, { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` })).status).toBe(401);
  });

  it.each(ROUTES)('%s %s: 403 with a valid JWT without the admin role', async (method, path) => {
    const res = await api(method, path, { authorization: `Bearer ${token({ roles: ['viewer'] })}` });
    expect(res.status).toBe(403);
    expect(res.json['error']).toMatch(/admin role/);
  });

  it('accepts the admin token and a JWT whose roles include admin', async () => {
    expect((await api('GET', '/dead-letters', ADMIN)).status).toBe(200);
    expect((await api('GET', '/dead-letters', JWT_ADMIN)).status).toBe(200);
    expect((await api('GET', '/dead-letters', { authorization: `Bearer ${token({ role: 'admin' })}` })).status).toBe(200);
    expect((await api('GET', '/no-such-route', ADMIN)).status).toBe(404);
  });
});

describe('GET /channels/{name}/history', () => {
  it('answers the latest frames, then the frames after a position, as a resuming client gets them', async () => {
    const visitors = [0, 1, 2].map((n) => `history-${n}-${randomUUID()}`);
    for (const visitor of visitors) expect((await post(gateway.url, '/events', { type: 'page_view', visitor_id: visitor })).status).toBe(202);
    await waitFor(async () => (await framesOf(visitors[2] as string)).length === 1, { what: 'the third event in the history' });

    const latest = await api('GET', '/channels/analytics/history?limit=3');
    expect(latest.status).toBe(200);
    const { epoch, offset } = latest.json as { epoch: string; offset: number };
    const frames = latest.json['frames'] as Record<string, unknown>[];
    expect(frames.map((f) => f['offset'])).toEqual([offset - 2, offset - 1, offset]);
    expect(latest.json['recovered']).toBe(true);

    const after = await api('GET', `/channels/analytics/history?epoch=${epoch}&since=${offset - 2}`);
    expect(after.json).toMatchObject({ epoch, offset, recovered: true });
    expect((after.json['frames'] as Record<string, unknown>[]).map((f) => f['offset'])).toEqual([offset - 1, offset]);
    const page = await api('GET', `/channels/analytics/history?epoch=${epoch}&since=${offset - 2}&limit=1`);
    expect((page.json['frames'] as Record<string, unknown>[]).map((f) => f['offset'])).toEqual([offset - 1]);
    const upToDate = await api('GET', `/channels/analytics/history?epoch=${epoch}&since=${offset}`);
    expect(upToDate.json).toEqual({ epoch, offset, recovered: true, frames: [] });
  });

  it('answers recovered:false with the current position for another epoch or a position beyond the latest', async () => {
    const { json } = await api('GET', '/channels/analytics/history?limit=1');
    const { epoch, offset } = json as { epoch: string; offset: number };
    expect((await api('GET', `/channels/analytics/history?epoch=old-epoch&since=1`)).json).toEqual({ epoch, offset, recovered: false, frames: [] });
    expect((await api('GET', `/channels/analytics/history?epoch=${epoch}&since=${offset + 10}`)).json).toMatchObject({ recovered: false, frames: [] });
  });

  it('maps logs:<appId> and errors to their channels', async () => {
    const appId = `app-${randomUUID().slice(0, 8)}`;
    expect((await post(gateway.url, '/logs', { appId, level: 'info', message: 'hello history' })).status).toBe(202);
    const logs = await waitFor(async () => {
      const { json } = await api('GET', `/channels/logs:${appId}/history`);
      return (json['frames'] as unknown[]).length > 0 ? json : undefined;
    });
    expect(JSON.stringify(logs['frames'])).toContain('hello history');
    expect((await api('GET', `/channels/logs:other-${appId}/history`)).json['frames']).toEqual([]);

    const service = `svc-${randomUUID().slice(0, 8)}`;
    expect((await post(gateway.url, '/report', { service, level: 'error', error: { message: 'boom' } })).status).toBe(202);
    const errors = await waitFor(async () => {
      const { json } = await api('GET', '/channels/errors/history');
      return JSON.stringify(json['frames']).includes(service) ? json : undefined;
    });
    expect(errors['recovered']).toBe(true);
    // A job's room sees none of the error feed.
    expect(JSON.stringify((await api('GET', '/channels/jobs:job-1/history')).json['frames'])).not.toContain(service);
  });

  it.each([
    ['/channels/nope/history', 404, /no such channel/],
    ['/channels/logs:/history', 404, /no such channel/],
    ['/channels/logs:a%20b/history', 404, /no such channel/],
    ['/channels/analytics/history?since=3', 400, /epoch and since/],
    ['/channels/analytics/history?epoch=e&since=-1', 400, /^since/],
    ['/channels/analytics/history?epoch=e&since=1.5', 400, /^since/],
    ['/channels/analytics/history?limit=0', 400, /^limit/],
    ['/channels/analytics/history?limit=1001', 400, /^limit/],
  ])('GET %s → %i', async (path, status, error) => {
    const res = await api('GET', path);
    expect(res.status).toBe(status);
    expect(res.json['error']).toMatch(error);
  });
});

describe('dead letters', () => {
  it('lists, inspects and deletes an entry a producer XADDed that the worker dead-lettered', async () => {
    const fields = { kind: 'analytics', body: JSON.stringify({ type: 'page_view' }) };
    const sourceId = (await redis.xadd(ingestStream, '*', ...Object.entries(fields).flat())) as string;
    const listed = await listedDeadLetter(sourceId);
    expect(listed.reason).toMatch(/visitor_id/);
    expect(listed.fields).toEqual(fields);
    expect(listed.at).toBeGreaterThan(Date.now() - 120_000);

    const one = await api('GET', `/dead-letters/${listed.id}`);
    expect(one.status).toBe(200);
    expect(one.json).toEqual(listed);

    // Refused calls change nothing.
    expect((await api('DELETE', `/dead-letters/${listed.id}`, {})).status).toBe(401);
    expect((await api('POST', `/dead-letters/${listed.id}/requeue`, { authorization: `Bearer ${token({ roles: [] })}` })).status).toBe(403);
    expect((await api('GET', `/dead-letters/${listed.id}`)).status).toBe(200);

    expect((await api('DELETE', `/dead-letters/${listed.id}`)).json).toEqual({ deleted: true, id: listed.id });
    expect((await api('GET', `/dead-letters/${listed.id}`)).status).toBe(404);
    expect((await api('DELETE', `/dead-letters/${listed.id}`)).status).toBe(404);
    expect(await redis.xrange(INGEST_DEAD_LETTER_STREAM, listed.id, listed.id)).toEqual([]);
  });

  it('requeues a valid entry set aside as poison once, however many times it is asked', async () => {
    const visitor = `requeued-${randomUUID()}`;
    const entry = { kind: 'analytics', id: randomUUID(), at: String(Date.now()), body: JSON.stringify({ type: 'page_view', visitor_id: visitor }) };
    // What the worker writes for an entry delivered too many times (reason, source_id, then the entry).
    const id = (await redis.xadd(
      INGEST_DEAD_LETTER_STREAM, '*', 'reason', 'delivered 6 times without success', 'source_id', '1-1', ...Object.entries(entry).flat(),
    )) as string;
    expect((await api('GET', `/dead-letters/${id}`)).json).toMatchObject({ id, sourceId: '1-1', fields: entry });

    // Three requeues at once, then one more: one append, one event applied.
    const answers = await Promise.all([0, 1, 2].map(() => api('POST', `/dead-letters/${id}/requeue`)));
    const accepted = answers.filter((a) => a.status === 200);
    expect(accepted.length).toBeGreaterThan(0);
    for (const answer of answers) expect([200, 404]).toContain(answer.status);
    expect(accepted.filter((a) => typeof a.json['streamId'] === 'string')).toHaveLength(1);
    expect((await api('POST', `/dead-letters/${id}/requeue`)).status).toBe(404);
    expect((await api('GET', `/dead-letters/${id}`)).status).toBe(404);

    await waitFor(async () => (await framesOf(visitor)).length > 0, { what: 'the requeued event applied', timeoutMs: 30_000 });
    await marker();
    expect(await framesOf(visitor)).toHaveLength(1);
    const ingested = (await redis.xrange(ingestStream, '-', '+')).filter(([, flat]) => flat.includes(entry.id));
    expect(ingested.length).toBeLessThanOrEqual(1);
  });

  it('pages newest first with a cursor', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 3; n += 1) {
      ids.push((await redis.xadd(INGEST_DEAD_LETTER_STREAM, '*', 'reason', `page ${n}`, 'source_id', `2-${n}`, 'kind', 'analytics', 'body', '{}')) as string);
    }
    const first = await api('GET', '/dead-letters?limit=2');
    const firstIds = (first.json['entries'] as DeadLetterJson[]).map((l) => l.id);
    expect(firstIds).toEqual([ids[2], ids[1]]);
    expect(first.json['next']).toBe(ids[1]);
    const second = await api('GET', `/dead-letters?limit=2&cursor=${String(first.json['next'])}`);
    expect((second.json['entries'] as DeadLetterJson[])[0]?.id).toBe(ids[0]);
    expect((await api('GET', '/dead-letters?cursor=bogus')).status).toBe(400);
    expect((await api('GET', '/dead-letters?limit=0')).status).toBe(400);
    expect((await api('GET', '/dead-letters/not-an-id')).status).toBe(404);
  });
});

describe('GET /openapi.json', () => {
  it('describes every route the gateway serves, in OpenAPI 3.1', async () => {
    const { status, json: doc } = await api('GET', '/openapi.json');
    expect(status).toBe(200);
    expect(doc['openapi']).toBe('3.1.0');
    expect(doc['info']).toMatchObject({ title: expect.any(String) as unknown, version: expect.any(String) as unknown });
    const paths = doc['paths'] as Record<string, Record<string, Record<string, unknown>>>;
    const served: [string, string][] = [
      ['get', '/channels'],
      ['get', '/channels/{name}/presence'],
      ['get', '/channels/{name}/history'],
      ['post', '/users/{userId}/disconnect'],
      ['get', '/dead-letters'],
      ['get', '/dead-letters/{id}'],
      ['post', '/dead-letters/{id}/requeue'],
      ['delete', '/dead-letters/{id}'],
      ['get', '/openapi.json'],
    ];
    const described = Object.entries(paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
    expect(described.sort()).toEqual(served.map(([method, path]) => `${method} ${path}`).sort());

    const operationIds = new Set<unknown>();
    for (const [path, item] of Object.entries(paths)) {
      for (const operation of Object.values(item)) {
        operationIds.add(operation['operationId']);
        const responses = operation['responses'] as Record<string, unknown>;
        expect(Object.keys(responses), path).toContain('200');
        if (path !== '/openapi.json') expect(Object.keys(responses), path).toEqual(expect.arrayContaining(['401', '403']));
        // Every path parameter is declared, required, and in the path.
        const declared = ((operation['parameters'] ?? []) as { name: string; in: string; required?: boolean }[]).filter((p) => p.in === 'path');
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        expect(declared.map((p) => p.name).sort(), path).toEqual(inPath.sort());
        for (const p of declared) expect(p.required, `${path} ${p.name}`).toBe(true);
      }
    }
    expect(operationIds.size).toBe(served.length);

    // Every $ref resolves inside the document.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeDefined();
    }
    expect(doc['components']).toMatchObject({ securitySchemes: { admin: { type: 'http', scheme: 'bearer' } } });
  });
});
