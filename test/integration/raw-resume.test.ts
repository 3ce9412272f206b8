import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { metricValue, type NodeProcess } from '../support/node-process.js';
import { ResumingClient, type RawEndpointName } from '../support/resuming-client.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';
import { anyNumber, anyObject, anyString } from '../support/matchers.js';

/**
 * Resume on the three raw endpoints, against real processes: a client that was away reconnects
 * to the other gateway with its epoch and offset and gets exactly what it missed, in order.
 */
const HISTORY_SIZE = 20;
const MAX_CONNECTIONS = 321;
let cluster: TwoGatewayCluster;
const clients: { stop(): void }[] = [];

const base = (node: NodeProcess): string => `ws://127.0.0.1:${node.port}`;
const APP = 'resume-app';

/** Posts one event of the endpoint's product to a gateway; resolves with its id. */
async function produce(endpoint: RawEndpointName, node: NodeProcess, tag: string, level = 'info'): Promise<string> {
  const [path, body] =
    endpoint === 'analytics'
      ? ['/events', { type: 'page_view', visitor_id: tag }]
      : endpoint === 'availability'
        ? ['/availability', { tourId: tag, tourTitle: 'Tour', availableSeats: 2, maxGroupSize: 10, threshold: 3 }]
        : ['/logs', { appId: APP, level, message: tag }];
  const res = await post(node.url, path, body);
  expect(res.status).toBe(202);
  return res.json['id'] as string;
}

async function resuming(endpoint: RawEndpointName, nodes: NodeProcess[], filters?: Record<string, unknown>): Promise<ResumingClient> {
  const c = await ResumingClient.connect(endpoint, nodes.map(base), {
    logsAuth: endpoint === 'logs' ? { userId: 'u', appId: APP, ...(filters ? { filters } : {}) } : undefined,
  });
  clients.push(c);
  return c;
}

async function raw(node: NodeProcess, path: string): Promise<TestClient> {
  const c = await TestClient.connect(node.wsUrl(path));
  clients.push({ stop: () => c.close() });
  return c;
}

const hasAll = (have: string[], want: string[]): boolean => want.every((id) => have.includes(id));

beforeAll(async () => {
  cluster = await startTwoGatewayCluster((redisEnv) => ({
    ...redisEnv,
    INGEST_API_KEYS: PRODUCER_KEY,
    HEARTBEAT_INTERVAL_MS: '1000',
    HISTORY_SIZE: String(HISTORY_SIZE),
    MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    LOG_LEVEL: 'warn',
  }));
});

afterAll(async () => {
  for (const c of clients) c.stop();
  await cluster?.stop();
});

describe('resume on the raw endpoints', () => {
  it.each(['analytics', 'availability', 'logs'] as const)(
    '/ws/%s: a client away while events flow resumes on the other gateway with every missed frame once, in order',
    async (endpoint) => {
      const { gatewayA, gatewayB } = cluster;
      const c = await resuming(endpoint, [gatewayA, gatewayB]);
      expect(c.firstFrames[0]).toMatchObject({ epoch: anyString, offset: anyNumber });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await produce(endpoint, gatewayA, `${endpoint}-before-${i}`));
      await waitFor(() => hasAll(c.ids(), ids), { what: 'the events before the drop' });

      c.drop(1500);
      const missed: string[] = [];
      for (let i = 0; i < 5; i++) missed.push(await produce(endpoint, gatewayB, `${endpoint}-away-${i}`));
      ids.push(...missed);
      await c.waitConnected(2);
      for (let i = 0; i < 2; i++) ids.push(await produce(endpoint, gatewayA, `${endpoint}-after-${i}`));
      await waitFor(() => hasAll(c.ids(), ids), { what: 'every event' });

      expect(c.resumes).toHaveLength(1);
      expect(c.resumes[0]).toMatchObject({ recovered: true, epoch: c.firstFrames[0]!['epoch'], connection: 1 });
      expect(c.resumes[0]!.count).toBeGreaterThanOrEqual(1);
      // The events, exactly once and in the order they were accepted (one worker: stream order).
      expect(c.ids().filter((id) => ids.includes(id))).toEqual(ids);
      expect(c.duplicates).toEqual([]);
      expect(c.gaps).toEqual([]);
      const metrics = await gatewayB.metrics();
      expect(metricValue(metrics, `switchboard_resumes_total{endpoint="${endpoint}",outcome="recovered"}`)).toBeGreaterThanOrEqual(1);
      expect(metricValue(metrics, `switchboard_replayed_frames_total{endpoint="${endpoint}"}`)).toBeGreaterThanOrEqual(1);
      c.stop();
    },
  );

  it('answers a wrong epoch with recovered:false, the current epoch and offset, right after fresh state', async () => {
    const analytics = await raw(cluster.gatewayA, '/ws/analytics?epoch=not-this-one&since=3');
    await analytics.next((f) => f.type === 'resumed');
    const [first, answer] = analytics.frames.map((f) => f.frame);
    expect(first).toMatchObject({ type: 'initial_stats', data: anyObject, epoch: anyString, offset: anyNumber });
    expect(answer).toEqual({ type: 'resumed', recovered: false, epoch: first!['epoch'], offset: first!['offset'] });

    const availability = await raw(cluster.gatewayB, '/ws/availability?epoch=not-this-one&since=0');
    const resumed = await availability.next((f) => f.type === 'resumed');
    expect(availability.frames[0]!.frame.type).toBe('connection');
    expect(resumed).toMatchObject({ recovered: false, epoch: availability.frames[0]!.frame['epoch'] });

    const logs = await raw(cluster.gatewayB, '/ws/logs');
    logs.send({ type: 'auth', data: { userId: 'u', appId: APP, epoch: 'not-this-one', since: 0 } });
    const logsAnswer = await logs.next((f) => f.type === 'resumed');
    expect(logs.frames[0]!.frame.type).toBe('auth_success');
    expect(logsAnswer).toMatchObject({ recovered: false, epoch: logs.frames[0]!.frame['epoch'] });
    const metrics = await cluster.gatewayB.metrics();
    expect(metricValue(metrics, 'switchboard_resumes_total{endpoint="logs",outcome="not_recovered"}')).toBeGreaterThanOrEqual(1);
  });

  it('recovers from an offset the history still holds, and not from one older than it or beyond the latest', async () => {
    const { gatewayA, gatewayB } = cluster;
    const watcher = await raw(gatewayA, '/ws/availability');
    const greeting = await watcher.next((f) => f.type === 'connection');
    const { epoch, offset: start } = greeting as Frame & { epoch: string; offset: number };
    for (let i = 0; i < HISTORY_SIZE + 5; i++) await produce('availability', gatewayA, `history-${i}`);
    await waitFor(() => watcher.of('tour.availability.low').length >= HISTORY_SIZE + 5, { what: 'every event' });
    const latest = watcher.of('tour.availability.low').at(-1)!['offset'] as number;

    const tooOld = await raw(gatewayB, `/ws/availability?epoch=${epoch}&since=${start}`);
    expect(await tooOld.next((f) => f.type === 'resumed')).toMatchObject({ recovered: false, epoch, offset: latest });

    const recent = await raw(gatewayB, `/ws/availability?epoch=${epoch}&since=${latest - 5}`);
    expect(await recent.next((f) => f.type === 'resumed')).toEqual({ type: 'resumed', recovered: true, epoch, count: 5, offset: latest });
    await waitFor(() => recent.of('tour.availability.low').length === 5, { what: 'the five missed events' });
    expect(recent.of('tour.availability.low').map((f) => f['offset'])).toEqual([1, 2, 3, 4, 5].map((i) => latest - 5 + i));
    expect(recent.frames.map((f) => f.frame.type).slice(0, 2)).toEqual(['connection', 'resumed']);

    const future = await raw(gatewayB, `/ws/availability?epoch=${epoch}&since=${latest + 100}`);
    expect(await future.next((f) => f.type === 'resumed')).toMatchObject({ recovered: false, epoch, offset: latest });
  });

  it('refuses bad resume parameters: 400 at the upgrade, auth_error on /ws/logs', async () => {
    const { gatewayA } = cluster;
    const cases: [string, RegExp][] = [
      ['/ws/analytics?since=3', /^epoch and since go together/],
      ['/ws/analytics?epoch=abc', /^epoch and since go together/],
      ['/ws/analytics?epoch=abc&since=-1', /^since: /],
      ['/ws/analytics?epoch=abc&since=1.5', /^since: /],
      ['/ws/analytics?epoch=abc&since=99999999999999999999', /^since: /],
      ['/ws/availability?epoch=a%20b&since=1', /^epoch: /],
      [`/ws/availability?epoch=${'e'.repeat(65)}&since=1`, /^epoch: /],
    ];
    for (const [path, error] of cases) {
      const refusal = await TestClient.refusal(gatewayA.wsUrl(path));
      expect(refusal.status, path).toBe(400);
      expect((JSON.parse(refusal.body) as { error: string }).error, path).toMatch(error);
    }
    expect(metricValue(await gatewayA.metrics(), 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="bad_resume"}')).toBe(5);

    const badAuth: [Record<string, unknown>, RegExp][] = [
      [{ since: 'x', epoch: 'abc' }, /since/],
      [{ since: -1, epoch: 'abc' }, /since/],
      [{ epoch: 'abc' }, /epoch and since go together/],
      [{ since: 4 }, /epoch and since go together/],
      [{ epoch: 'a b', since: 1 }, /^epoch: /],
    ];
    for (const [extra, error] of badAuth) {
      const logs = await raw(gatewayA, '/ws/logs');
      logs.send({ type: 'auth', data: { userId: 'u', appId: APP, ...extra } });
      const answer = await logs.next((f) => f.type === 'auth_error' || f.type === 'auth_success');
      expect(answer.type, JSON.stringify(extra)).toBe('auth_error');
      expect((answer['payload'] as { message: string }).message).toMatch(error);
      // Still not authenticated: a correct auth afterwards works.
      logs.send({ type: 'auth', data: { userId: 'u', appId: APP } });
      await logs.next((f) => f.type === 'auth_success');
    }
  });

  it('exposes the delivery gauges: subscription up, Redis up, the configured connection cap', async () => {
    const metrics = await cluster.gatewayA.metrics();
    expect(metricValue(metrics, 'switchboard_gateway_subscription_up')).toBe(1);
    expect(metricValue(metrics, 'switchboard_redis_up')).toBe(1);
    expect(metricValue(metrics, 'switchboard_max_connections')).toBe(MAX_CONNECTIONS);
    expect(await cluster.gatewayA.json('/readyz')).toEqual({ ready: true, draining: false, redis: 'up', subscription: 'up' });
  });

  it('applies the logs filter given at auth to the replayed entries too', async () => {
    const { gatewayA, gatewayB } = cluster;
    const c = await resuming('logs', [gatewayA, gatewayB], { level: ['error'] });
    c.drop(1500);
    const errors: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await produce('logs', gatewayA, `filtered-${i}`, i % 2 === 0 ? 'info' : 'error');
      if (i % 2 === 1) errors.push(id);
    }
    await c.waitConnected(2);
    await waitFor(() => hasAll(c.ids(), errors), { what: 'the error entries' });
    expect(c.resumes[0]).toMatchObject({ recovered: true });
    const levels = c.received.flatMap((f) => (f['payload'] as { level: string }[]).map((e) => e.level));
    expect(new Set(levels)).toEqual(new Set(['error']));
    expect(c.ids()).toEqual(errors);
    expect(c.duplicates).toEqual([]);
  });
});
