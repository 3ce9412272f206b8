import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, INGEST_GROUP } from '@switchboard/protocol';
import { startTestRedis, suiteRedis, type TestRedis } from '../support/test-redis.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { PRODUCER_KEY, figures, post } from './helpers.js';

/**
 * Two gateways and two workers on a real Redis: cross-node delivery, cluster-wide statistics,
 * the heartbeat lease, worker failure and recovery. The same suite runs on a Redis Cluster
 * (analytics-redis-cluster.test.ts).
 */
const INTERVAL = 1500;
let redis: TestRedis;
let gatewayA: NodeProcess;
let gatewayB: NodeProcess;
const workers: NodeProcess[] = [];
let env: Record<string, string>;
const clients: TestClient[] = [];

async function client(node: NodeProcess): Promise<TestClient> {
  const c = await TestClient.connect(node.wsUrl('/ws/analytics'));
  clients.push(c);
  await c.next((f) => f.type === 'initial_stats', { what: 'initial_stats' });
  return c;
}

const eventsWith = (c: TestClient, visitorPrefix: string): Frame[] =>
  c.frames.map((f) => f.frame).filter((f) => typeof f['visitor_id'] === 'string' && f['visitor_id'].startsWith(visitorPrefix));

async function leader(): Promise<NodeProcess> {
  return waitFor(
    async () => {
      for (const w of workers) {
        if (w.child.exitCode !== null) continue;
        const health = await w.json<{ heartbeatLeader: boolean }>('/health');
        if (health.heartbeatLeader) return w;
      }
      return undefined;
    },
    { what: 'a heartbeat leader' },
  );
}

beforeAll(async () => {
  redis = await startTestRedis();
  env = {
    ...redis.env,
    HEARTBEAT_INTERVAL_MS: String(INTERVAL),
    INGEST_CLAIM_IDLE_MS: '1500',
    INGEST_API_KEYS: PRODUCER_KEY,
    LOG_LEVEL: 'warn',
  };
  [gatewayA, gatewayB] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('gateway', env)]);
  workers.push(...(await Promise.all([NodeProcess.start('worker', env), NodeProcess.start('worker', env)])));
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([gatewayA, gatewayB, ...workers].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

describe(`analytics across two gateways and two workers (${suiteRedis()} Redis)`, () => {
  it('delivers an event posted to one gateway exactly once to clients on both gateways', async () => {
    const onA = await client(gatewayA);
    const onB = await client(gatewayB);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await post(i % 2 === 0 ? gatewayA.url : gatewayB.url, '/events', {
        type: 'page_view',
        visitor_id: `xnode-${i}`,
        data: { path: `/p/${i}` },
      });
      expect(res.status).toBe(202);
      ids.push(res.json['id'] as string);
    }
    for (const c of [onA, onB]) {
      await waitFor(() => eventsWith(c, 'xnode-').length >= 20, { what: 'all 20 events' });
    }
    // Let one more heartbeat pass through the same channel: any duplicate would have arrived.
    const mark = onB.frames.length;
    await onB.next((f) => f.type === 'heartbeat', { from: mark, what: 'a later heartbeat' });
    for (const c of [onA, onB]) {
      const received = eventsWith(c, 'xnode-');
      // Each exactly once. Two workers commit concurrently, so the cluster-wide order is the
      // offsets' order (asserted below), not necessarily the order of the POSTs.
      expect(received.map((f) => f['id'])).toHaveLength(ids.length);
      expect(new Set(received.map((f) => f['id']))).toEqual(new Set(ids));
      const third = received.find((f) => f['visitor_id'] === 'xnode-3');
      expect(third).toMatchObject({ type: 'page_view', id: ids[3], data: { path: '/p/3' } });
      expect(typeof third?.['timestamp']).toBe('string');
      const offsets = received.map((f) => f['offset'] as number);
      expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!)).toBe(true);
      // Everything on the channel since the subscription, heartbeats included, without a gap.
      const all = c.frames.map((f) => f.frame['offset']).filter((o): o is number => typeof o === 'number');
      expect(all.every((o, i) => i === 0 || o === all[i - 1]! + 1)).toBe(true);
    }
  });

  it('shows the same cluster-wide statistics on every gateway', async () => {
    const onA = await client(gatewayA);
    const onB = await client(gatewayB);
    for (const v of ['s1', 's2', 's2']) {
      expect((await post(gatewayA.url, '/events', { type: 'letter_generated', visitor_id: `stats-${v}` })).status).toBe(202);
    }
    await waitFor(() => eventsWith(onB, 'stats-').length === 3, { what: 'letters on B' });
    await waitFor(() => eventsWith(onA, 'stats-').length === 3, { what: 'letters on A' });
    const markA = onA.frames.length;
    const markB = onB.frames.length;
    onA.send({ type: 'refresh_stats' });
    onB.send({ type: 'refresh_stats' });
    const [a, b] = await Promise.all([
      onA.next((f) => f.type === 'initial_stats', { from: markA }),
      onB.next((f) => f.type === 'initial_stats', { from: markB }),
    ]);
    expect(figures(a['data'])).toEqual(figures(b['data']));
    expect(a['data']).toMatchObject({ total_events: 23, letters_today: 3, unique_today: 22, current_visitors: 22 });
  });

  it('publishes one heartbeat per interval with two workers running', async () => {
    const published = async () => {
      const texts = await Promise.all(workers.map((w) => w.metrics()));
      return texts.reduce((sum, text) => sum + (metricValue(text, 'switchboard_worker_heartbeats_published_total') ?? 0), 0);
    };
    const watcher = await client(gatewayA);
    const start = watcher.frames.length;
    const publishedBefore = await published();
    // A measurement window of eight intervals: one beat per interval gives 8 (±1 at the edges);
    // both workers beating would give about 16.
    await sleep(INTERVAL * 8);
    const publishedInWindow = (await published()) - publishedBefore;
    const received = watcher.frames.slice(start).filter((f) => f.frame.type === 'heartbeat').length;
    expect(publishedInWindow).toBeGreaterThanOrEqual(7);
    expect(publishedInWindow).toBeLessThanOrEqual(9);
    expect(received).toBeGreaterThanOrEqual(7);
    expect(received).toBeLessThanOrEqual(9);
    const [w1, w2] = await Promise.all(workers.map((w) => w.json<{ heartbeatLeader: boolean }>('/health')));
    expect([w1?.heartbeatLeader, w2?.heartbeatLeader].filter(Boolean)).toHaveLength(1);
  });

  it('keeps the heartbeat going, within two intervals, when its holder is killed', async () => {
    const watcher = await client(gatewayB);
    const holder = await leader();
    await watcher.next((f) => f.type === 'heartbeat', { from: watcher.frames.length, what: 'a heartbeat before the kill' });
    const killedAt = Date.now();
    await holder.stop('SIGKILL');
    workers.splice(workers.indexOf(holder), 1);
    const before = watcher.frames.filter((f) => f.frame.type === 'heartbeat' && f.at <= killedAt).at(-1)!;
    await waitFor(() => watcher.frames.some((f) => f.frame.type === 'heartbeat' && f.at > killedAt), {
      what: 'a heartbeat from the survivor',
    });
    const after = watcher.frames.find((f) => f.frame.type === 'heartbeat' && f.at > killedAt)!;
    // Two intervals, plus delivery slack for a loaded machine (a lease that outlived its holder by
    // a full interval or more would still fail this).
    expect(after.at - before.at).toBeLessThanOrEqual(2 * INTERVAL + 1000);
    expect(await leader()).toBe(workers[0]);
    workers.push(await NodeProcess.start('worker', env));
  });

  it('delivers events posted while no worker runs once a worker starts', async () => {
    const watcher = await client(gatewayA);
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM')));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post(gatewayB.url, '/events', { type: 'page_view', visitor_id: `offline-${i}` });
      expect(res.status).toBe(202);
      ids.push(res.json['id'] as string);
    }
    await sleep(500);
    expect(eventsWith(watcher, 'offline-')).toHaveLength(0);
    const backlog = redis.client();
    const info = (await backlog.xinfo('GROUPS', redis.ingestStream(CHANNELS.analytics))) as unknown[][];
    expect(info[0]![info[0]!.indexOf('lag') + 1]).toBe(5);
    backlog.disconnect();

    workers.push(await NodeProcess.start('worker', env));
    await waitFor(() => eventsWith(watcher, 'offline-').length >= 5, { what: 'the backlog' });
    expect(eventsWith(watcher, 'offline-').map((f) => f['id'])).toEqual(ids);
  });

  it('claims entries a dead worker left pending and delivers them once', async () => {
    const watcher = await client(gatewayB);
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM')));
    for (let i = 0; i < 3; i++) {
      expect((await post(gatewayA.url, '/events', { type: 'page_view', visitor_id: `orphan-${i}` })).status).toBe(202);
    }
    // A consumer that reads the entries and dies without acknowledging them.
    const ghost = redis.client();
    const read = (await ghost.xreadgroup('GROUP', INGEST_GROUP, 'ghost', 'COUNT', 10, 'STREAMS', redis.ingestStream(CHANNELS.analytics), '>')) as [string, unknown[]][];
    expect(read[0]![1]).toHaveLength(3);
    ghost.disconnect();

    const worker = await NodeProcess.start('worker', env);
    workers.push(worker);
    await waitFor(() => eventsWith(watcher, 'orphan-').length >= 3, { what: 'claimed entries' });
    await watcher.next((f) => f.type === 'heartbeat', { from: watcher.frames.length, what: 'a later heartbeat' });
    expect(eventsWith(watcher, 'orphan-').map((f) => f['visitor_id'])).toEqual(['orphan-0', 'orphan-1', 'orphan-2']);
    const pending = redis.client();
    expect(((await pending.xpending(redis.ingestStream(CHANNELS.analytics), INGEST_GROUP)) as [number])[0]).toBe(0);
    pending.disconnect();
    const metrics = await worker.metrics();
    expect(metricValue(metrics, 'switchboard_worker_events_processed_total{kind="analytics"}')).toBeGreaterThanOrEqual(3);
  });

  it('reports health, readiness and metrics on gateways and workers', async () => {
    const c = await client(gatewayA);
    const health = await gatewayA.json('/health');
    expect(health).toMatchObject({ status: 'ok', service: 'gateway', node: gatewayA.nodeId, redis: 'up' });
    expect(health['connectedClients']).toBeGreaterThanOrEqual(1);
    expect(Date.parse(health['timestamp'] as string)).not.toBeNaN();
    expect((await fetch(`${gatewayA.url}/livez`)).status).toBe(200);
    expect((await fetch(`${gatewayA.url}/readyz`)).status).toBe(200);
    const text = await gatewayA.metrics();
    expect(metricValue(text, 'maicivy_websocket_connections{endpoint="analytics"}')).toBe(health['connectedClients']);
    expect(metricValue(text, 'switchboard_ingest_requests_total{kind="analytics",outcome="accepted"}')).toBeGreaterThan(0);
    expect(text).toMatch(/switchboard_delivery_latency_seconds_bucket\{le="0.05",channel="analytics"\} \d+/);
    expect(metricValue(text, 'switchboard_ws_messages_sent_total{endpoint="analytics"}')).toBeGreaterThan(0);
    c.send({ type: 'ping' });
    await c.next((f) => f.type === 'pong');
    const after = await gatewayA.metrics();
    expect(metricValue(after, 'switchboard_ws_messages_received_total{endpoint="analytics"}')).toBeGreaterThan(0);

    const worker = workers[0]!;
    const wh = await worker.json('/health');
    expect(wh).toMatchObject({ status: 'ok', service: 'worker', redis: 'up' });
    const wm = await worker.metrics();
    expect(wm).toContain('switchboard_worker_ingest_lag');
    expect(wm).toContain('switchboard_worker_heartbeat_leader');
  });
});
