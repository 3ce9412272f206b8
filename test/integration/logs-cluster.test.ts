import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suiteRedis, type TestRedis } from '../support/test-redis.js';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { metricValue, type NodeProcess } from '../support/node-process.js';
import type { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';
import { appClient, authenticate, history, liveEntries, logsClient, type LogEntryFrame } from './logs-helpers.js';

/**
 * `/ws/logs` and `POST /logs` on two gateways and a worker over a real Redis: tenant isolation,
 * batching with offsets, history in Redis at its limit, filters, a cluster-wide clear and the
 * cluster's metrics.
 */
const HISTORY_LIMIT = 25;
const METRICS_INTERVAL = 1000;
let redis: TestRedis;
let gatewayA: NodeProcess;
let gatewayB: NodeProcess;
let worker: NodeProcess;
let cluster: TwoGatewayCluster;
const clients: TestClient[] = [];

async function client(node: NodeProcess, appId: string): Promise<TestClient> {
  const c = await appClient(node, appId);
  clients.push(c);
  return c;
}

/** Posts entries (one request) and returns their ids. */
async function postLogs(node: NodeProcess, entries: Record<string, unknown>[]): Promise<string[]> {
  const res = await post(node.url, '/logs', entries);
  expect(res.status).toBe(202);
  return res.json['ids'] as string[];
}

const messages = (entries: LogEntryFrame[]) => entries.map((e) => e.message);

beforeAll(async () => {
  const env = (redisEnv: Record<string, string>) => ({
    ...redisEnv,
    INGEST_API_KEYS: PRODUCER_KEY,
    LOG_HISTORY_LIMIT: String(HISTORY_LIMIT),
    LOG_METRICS_INTERVAL_MS: String(METRICS_INTERVAL),
    HEARTBEAT_INTERVAL_MS: '1000',
    IDLE_TIMEOUT_S: '900', // clients here stay quiet for the whole file
    LOG_LEVEL: 'warn',
  });
  cluster = await startTwoGatewayCluster(env);
  ({ redis, gatewayA, gatewayB, worker } = cluster);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

describe(`POST /logs (${suiteRedis()} Redis)`, () => {
  it('accepts one entry or a batch, answering the ids', async () => {
    const one = await post(gatewayA.url, '/logs', { appId: 'ingest', level: 'info', message: 'single' });
    expect(one.status).toBe(202);
    expect(Object.keys(one.json)).toEqual(['id']);
    const batch = await post(gatewayB.url, '/logs', [
      { appId: 'ingest', level: 'info', message: 'first' },
      { appId: 'ingest', level: 'warn', message: 'second' },
    ]);
    expect(batch.status).toBe(202);
    expect(batch.json['ids']).toHaveLength(2);
    expect(batch.json['id']).toBe((batch.json['ids'] as string[])[0]);
  });

  it.each([
    [[{ appId: 'a', level: 'info', message: 'ok' }, { appId: 'a', level: 3, message: 'bad' }], '1.level: expected a non-empty string'],
    [{ appId: 'a', level: 'info' }, 'message: expected a string'],
    [{ appId: 'no spaces please', level: 'info', message: 'm' }, "appId: expected letters, digits, '_', '-', '.' or ':'"],
    [[], 'body: expected at least one log entry'],
    [Array.from({ length: 501 }, () => ({ appId: 'a', level: 'info', message: 'm' })), 'body: expected at most 500 log entries'],
  ])('answers 400 naming the field for %j', async (body, error) => {
    expect(await post(gatewayA.url, '/logs', body)).toEqual({ status: 400, json: { error } });
  });

  it('requires a producer credential like every ingest route', async () => {
    expect((await post(gatewayA.url, '/logs', { appId: 'a', level: 'info', message: 'm' }, {})).status).toBe(401);
  });
});

describe('/ws/logs across two gateways', () => {
  it('answers auth_error to anything before auth, and sends that connection nothing else', async () => {
    const watcher = await client(gatewayA, 'quiet');
    const unauthenticated = await logsClient(gatewayA);
    clients.push(unauthenticated);
    for (const message of [{ type: 'request_history' }, { type: 'filter', filters: {} }, 'not json', { type: 'nope' }]) {
      const mark = unauthenticated.frames.length;
      unauthenticated.send(message);
      const answer = await unauthenticated.next(() => true, { from: mark, what: 'an answer' });
      expect(answer.type).toBe('auth_error');
      expect(typeof (answer['payload'] as { message: string }).message).toBe('string');
    }
    await postLogs(gatewayB, [{ appId: 'quiet', level: 'info', message: 'for the authenticated only' }]);
    await waitFor(() => liveEntries(watcher).length === 1, { what: 'the entry on the authenticated client' });
    // Metrics pushes go to authenticated clients only, too: let one pass.
    await watcher.next((f) => f.type === 'metrics', { from: watcher.frames.length, what: 'a metrics push' });
    expect(unauthenticated.frames.every((f) => f.frame.type === 'auth_error')).toBe(true);
    expect(unauthenticated.frames).toHaveLength(4);
    // Closed here, not by LOGS_AUTH_TIMEOUT_MS in the middle of a later test that counts connections.
    unauthenticated.close();
    await unauthenticated.waitClosed();
  });

  it('keeps apps isolated: each app’s clients on both gateways get its logs only', async () => {
    const alphaA = await client(gatewayA, 'alpha');
    const alphaB = await client(gatewayB, 'alpha');
    const betaA = await client(gatewayA, 'beta');
    const betaB = await client(gatewayB, 'beta');
    await postLogs(gatewayA, [
      { appId: 'alpha', level: 'info', message: 'alpha-1' },
      { appId: 'beta', level: 'info', message: 'beta-1' }, // one batch, two apps
    ]);
    await postLogs(gatewayB, [{ appId: 'alpha', level: 'error', message: 'alpha-2', userId: 'u7', region: 'eu' }]);
    await postLogs(gatewayB, [{ appId: 'beta', level: 'warn', message: 'beta-2' }]);
    for (const c of [alphaA, alphaB]) await waitFor(() => liveEntries(c).length >= 2, { what: 'alpha entries' });
    for (const c of [betaA, betaB]) await waitFor(() => liveEntries(c).length >= 2, { what: 'beta entries' });
    // A last entry per app: anything misrouted would have arrived before it.
    await postLogs(gatewayA, [{ appId: 'alpha', level: 'info', message: 'alpha-end' }, { appId: 'beta', level: 'info', message: 'beta-end' }]);
    for (const c of [alphaA, alphaB]) await waitFor(() => liveEntries(c).some((e) => e.message === 'alpha-end'), { what: 'alpha-end' });
    for (const c of [betaA, betaB]) await waitFor(() => liveEntries(c).some((e) => e.message === 'beta-end'), { what: 'beta-end' });
    for (const c of [alphaA, alphaB]) expect(messages(liveEntries(c))).toEqual(['alpha-1', 'alpha-2', 'alpha-end']);
    for (const c of [betaA, betaB]) expect(messages(liveEntries(c))).toEqual(['beta-1', 'beta-2', 'beta-end']);
    const entry = liveEntries(alphaB)[1]!;
    expect(Object.keys(entry)).toEqual(['id', 'timestamp', 'level', 'message', 'metadata', 'appId', 'userId']);
    expect(entry).toMatchObject({ level: 'error', appId: 'alpha', userId: 'u7', metadata: { region: 'eu' } });
    expect(Math.abs(entry.timestamp - Date.now())).toBeLessThan(60_000);
    expect(liveEntries(alphaA)[0]!.userId).toBe('anonymous');
  });

  it('batches live entries, each once and in order, with contiguous per-app offsets', async () => {
    const watcher = await client(gatewayB, 'batched');
    const count = 30;
    const ids = (
      await Promise.all(Array.from({ length: count }, (_, i) => postLogs(gatewayA, [{ appId: 'batched', level: 'info', message: `m${i}` }])))
    ).flat();
    await waitFor(() => liveEntries(watcher).length >= count, { what: 'all entries' });
    expect(new Set(liveEntries(watcher).map((e) => e.id))).toEqual(new Set(ids));
    expect(liveEntries(watcher)).toHaveLength(count);
    const batches = watcher.frames.map((f) => f.frame).filter((f) => f.type === 'logs' && f['offset'] !== undefined);
    expect(batches.length).toBeLessThanOrEqual(count);
    // Offsets count channel messages of this app: batches cover 1..count without a gap.
    expect(batches[0]!['fromOffset']).toBe(1);
    for (let i = 1; i < batches.length; i++) expect(batches[i]!['fromOffset']).toBe((batches[i - 1]!['offset'] as number) + 1);
    expect(batches.at(-1)!['offset']).toBe(count);
    // One request of ten entries is one channel message: one frame, in the posted order.
    const mark = watcher.frames.length;
    await postLogs(gatewayA, Array.from({ length: 10 }, (_, i) => ({ appId: 'batched', level: 'info', message: `b${i}` })));
    const frame = await watcher.next((f) => f.type === 'logs', { from: mark });
    expect(messages(frame['payload'] as LogEntryFrame[])).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`));
  });

  it(`keeps the newest ${HISTORY_LIMIT} entries in Redis, the same on every gateway, oldest first`, async () => {
    const onA = await client(gatewayA, 'hist');
    const onB = await client(gatewayB, 'hist');
    await postLogs(gatewayA, Array.from({ length: HISTORY_LIMIT }, (_, i) => ({ appId: 'hist', level: 'info', message: `h${i + 1}` })));
    await waitFor(() => liveEntries(onB).length === HISTORY_LIMIT, { what: 'the first entries' });
    const atLimit = await history(onB);
    expect(messages(atLimit)).toEqual(Array.from({ length: HISTORY_LIMIT }, (_, i) => `h${i + 1}`));
    for (let i = HISTORY_LIMIT + 1; i <= HISTORY_LIMIT + 5; i++) await postLogs(gatewayB, [{ appId: 'hist', level: 'info', message: `h${i}` }]);
    await waitFor(() => liveEntries(onA).length === HISTORY_LIMIT + 5, { what: 'five more entries' });
    const kept = await history(onA);
    expect(messages(kept)).toEqual(Array.from({ length: HISTORY_LIMIT }, (_, i) => `h${i + 6}`));
    expect(await history(onB)).toEqual(kept);
    const stored = redis.client();
    expect(await stored.llen(redis.stateKey('sb:logs:history:hist'))).toBe(HISTORY_LIMIT);
    stored.disconnect();
  });

  it('applies a filter to live entries and to history; other clients are unaffected', async () => {
    const filtered = await client(gatewayA, 'filt');
    const plain = await client(gatewayB, 'filt');
    const before = Date.now() - 1;
    await postLogs(gatewayB, [
      { appId: 'filt', level: 'error', message: 'old-error', timestamp: before - 60_000 },
      { appId: 'filt', level: 'error', message: 'e1' },
      { appId: 'filt', level: 'info', message: 'i1' },
      { appId: 'filt', level: 'WARN', message: 'w1' },
    ]);
    await waitFor(() => liveEntries(filtered).length === 4, { what: 'the unfiltered first batch' });
    filtered.send({ type: 'filter', filters: { level: ['error', 'warn'], startTime: before } });
    // Messages take effect in order: this history already reflects the filter.
    expect(messages(await history(filtered))).toEqual(['e1', 'w1']);
    const mark = liveEntries(filtered).length;
    await postLogs(gatewayA, [
      { appId: 'filt', level: 'info', message: 'i2' },
      { appId: 'filt', level: 'error', message: 'e2' },
    ]);
    await postLogs(gatewayA, [{ appId: 'filt', level: 'debug', message: 'd-only' }]);
    await postLogs(gatewayA, [{ appId: 'filt', level: 'warn', message: 'w2' }]);
    await waitFor(() => liveEntries(plain).length === 8, { what: 'everything on the plain client' });
    await waitFor(() => liveEntries(filtered).slice(mark).length >= 2, { what: 'the filtered entries' });
    expect(messages(liveEntries(filtered).slice(mark))).toEqual(['e2', 'w2']);
    expect(messages(liveEntries(plain))).toEqual(['old-error', 'e1', 'i1', 'w1', 'i2', 'e2', 'd-only', 'w2']);
    expect(messages(await history(plain))).toEqual(['old-error', 'e1', 'i1', 'w1', 'i2', 'e2', 'd-only', 'w2']);
    // An end time in the past stops live entries; an empty filter lifts it.
    filtered.send({ type: 'filter', filters: { endTime: before } });
    expect(messages(await history(filtered))).toEqual(['old-error']);
    filtered.send({ type: 'filter', filters: {} });
    expect(await history(filtered)).toHaveLength(8);
    await postLogs(gatewayB, [{ appId: 'filt', level: 'info', message: 'after-lift' }]);
    await waitFor(() => liveEntries(filtered).some((e) => e.message === 'after-lift'), { what: 'entries again after the filter is lifted' });
  });

  it('clears an app’s history cluster-wide: every client of the app gets cleared, other apps keep theirs', async () => {
    const onA = await client(gatewayA, 'clr');
    const onB = await client(gatewayB, 'clr');
    const other = await client(gatewayB, 'keep');
    await postLogs(gatewayA, [{ appId: 'clr', level: 'info', message: 'c1' }, { appId: 'keep', level: 'info', message: 'k1' }]);
    await waitFor(() => liveEntries(onB).length === 1 && liveEntries(other).length === 1, { what: 'entries before the clear' });
    onA.send({ type: 'clear' });
    const [clearedA, clearedB] = await Promise.all([onA.next((f) => f.type === 'cleared'), onB.next((f) => f.type === 'cleared')]);
    expect(clearedA['payload']).toEqual({ appId: 'clr' });
    expect(clearedB['payload']).toEqual({ appId: 'clr' });
    expect(await history(onB)).toEqual([]);
    expect(messages(await history(other))).toEqual(['k1']);
    expect(other.of('cleared')).toEqual([]);
    await postLogs(gatewayB, [{ appId: 'clr', level: 'info', message: 'c2' }]);
    await waitFor(() => liveEntries(onA).length === 2, { what: 'an entry after the clear' });
    expect(messages(await history(onA))).toEqual(['c2']);
  });

  it('refuses a second auth, answers ping, and reports bad messages after auth as errors', async () => {
    const c = await client(gatewayA, 'misc');
    expect((await authenticate(c, { userId: 'x', appId: 'other' })).type).toBe('auth_error');
    let mark = c.frames.length;
    c.send({ type: 'ping' });
    expect(Date.parse((await c.next((f) => f.type === 'pong', { from: mark }))['timestamp'] as string)).not.toBeNaN();
    mark = c.frames.length;
    c.send({ type: 'filter', filters: { level: 'error' } });
    expect((await c.next((f) => f.type === 'error', { from: mark }))['message']).toBe('filters.level: expected an array of levels');
  });
});

describe('cluster PerformanceMetrics', () => {
  const activeConnections = async (c: TestClient): Promise<number> => {
    const mark = c.frames.length;
    c.send({ type: 'request_metrics' });
    const frame = await c.next((f) => f.type === 'metrics' && f['offset'] === undefined, { from: mark, what: 'metrics answer' });
    return (frame['payload'] as { activeConnections: number }).activeConnections;
  };

  it('pushes the cluster figures to clients on both gateways, in the original shape', async () => {
    const onA = await client(gatewayA, 'metrics');
    const onB = await client(gatewayB, 'metrics');
    // A push after both joined: one publish through Redis, the same frame on both gateways.
    const pushA = await onA.next((f) => f.type === 'metrics' && typeof f['offset'] === 'number', { from: onA.frames.length, what: 'a push on A' });
    const pushB = await onB.next((f) => f.type === 'metrics' && f['offset'] === pushA['offset'], { what: 'the same push on B' });
    expect(pushB).toEqual(pushA);
    const payload = pushA['payload'] as Record<string, Record<string, number> | number>;
    expect(Object.keys(payload)).toEqual(['timestamp', 'cpu', 'memory', 'disk', 'network', 'activeConnections', 'messageRate', 'errorRate']);
    expect(Object.keys(payload['cpu']!)).toEqual(['usage', 'cores']);
    expect(Object.keys(payload['memory']!)).toEqual(['used', 'free', 'total']);
    expect(Object.keys(payload['disk']!)).toEqual(['used', 'free', 'total']);
    expect(Object.keys(payload['network']!)).toEqual(['bytesReceived', 'bytesSent', 'connections']);
    const cpu = payload['cpu'] as { usage: number; cores: number };
    expect(cpu.cores).toBeGreaterThan(0);
    expect(cpu.usage).toBeGreaterThanOrEqual(0);
    expect(cpu.usage).toBeLessThanOrEqual(100);
    expect((payload['memory'] as { total: number }).total).toBeGreaterThan(0);
    expect(Math.abs((payload['timestamp'] as number) - Date.now())).toBeLessThan(60_000);
    // Pushes keep coming, one per interval, with increasing offsets.
    const next = await onA.next((f) => f.type === 'metrics' && (f['offset'] as number) > (pushA['offset'] as number), { what: 'the next push' });
    expect(next['offset']).toBe((pushA['offset'] as number) + 1);
  });

  it('counts /ws/logs connections cluster-wide, following opens and closes on either gateway', async () => {
    const probe = await client(gatewayA, 'count');
    const openLogs = () => clients.filter((c) => c.closed === undefined && c.ws.url.includes('/ws/logs')).length;
    await waitFor(async () => (await activeConnections(probe)) === openLogs(), { what: 'activeConnections = open clients', timeoutMs: 30_000 });
    // Authenticated: an unauthenticated one would be closed by LOGS_AUTH_TIMEOUT_MS while counting.
    const extra = await Promise.all([client(gatewayB, 'count'), client(gatewayB, 'count'), client(gatewayA, 'count')]);
    const expected = openLogs();
    await waitFor(async () => (await activeConnections(probe)) === expected, { what: `activeConnections = ${expected}`, timeoutMs: 30_000 });
    for (const c of extra) c.close();
    await waitFor(async () => (await activeConnections(probe)) === expected - 3, { what: 'the closed ones gone', timeoutMs: 30_000 });
    const metrics = await gatewayB.metrics();
    expect(metricValue(metrics, 'maicivy_websocket_connections{endpoint="logs"}')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'switchboard_ingest_requests_total{kind="logs",outcome="accepted"}')).toBeGreaterThan(0);
    expect(metricValue(await worker.metrics(), 'switchboard_worker_events_processed_total{kind="logs"}')).toBeGreaterThan(0);
  });

  it('reports the log message and error rates', async () => {
    const probe = await client(gatewayB, 'rates');
    await postLogs(gatewayA, Array.from({ length: 20 }, (_, i) => ({ appId: 'rates', level: i < 5 ? 'error' : 'info', message: `r${i}` })));
    await waitFor(() => liveEntries(probe).length === 20, { what: 'the entries' });
    const push = await probe.next(
      (f) => f.type === 'metrics' && (f['payload'] as { errorRate: number }).errorRate > 0,
      { what: 'a push with an error rate', timeoutMs: 30_000 },
    );
    const { messageRate, errorRate } = push['payload'] as { messageRate: number; errorRate: number };
    expect(messageRate).toBeGreaterThanOrEqual(errorRate);
    expect(messageRate).toBeGreaterThanOrEqual(2); // 20 entries over a 10-second window, at least
  });
});
