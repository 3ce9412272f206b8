import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  AnalyticsClient,
  AvailabilityClient,
  ErrorMonitorClient,
  LogsClient,
  type AvailabilityAlert,
  type BaseEvents,
  type ErrorEventRecord,
  type Gap,
  type LogEntry,
  type ReceivedAnalyticsEvent,
  type ResumeOutcome,
  type WebSocketConstructor,
} from '@switchboard/client';
import { NodeProcess } from '../support/node-process.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { TEST_BACKOFF } from './client-helpers.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * The SDK's resume against real processes: a client on gateway A, A drained (1012) or killed,
 * events posted meanwhile, the client back on gateway B with every event exactly once, in order,
 * and no `gap`; and, after Redis restarted empty, `recovered:false` with a new epoch and fresh state.
 *
 * Where the client goes is decided the way a load balancer would: its WebSocket implementation
 * dials whichever gateway `route.to` names (a port with nothing listening while "away").
 */
const env = (redisUrl: string) => ({ REDIS_URL: redisUrl, INGEST_API_KEYS: PRODUCER_KEY, LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '1000' });
const WAIT = { timeoutMs: 60_000 };

let redis: RedisServer;
let gatewayA: NodeProcess;
let gatewayB: NodeProcess;
let worker: NodeProcess;
let deadPort: number;
const closers: (() => void)[] = [];

const route = { to: 0 };
/**
 * `ws`, dialing the routed gateway whatever URL the SDK built (path and query kept); `dialed.port`
 * is the gateway the client's latest connection went to.
 */
function routed(dialed: { port: number }): WebSocketConstructor {
  class RoutedWebSocket extends WebSocket {
    constructor(url: string) {
      const target = new URL(url);
      target.port = String(route.to);
      dialed.port = route.to;
      super(target.toString());
    }
  }
  return RoutedWebSocket;
}

/** A resume answer and the gateway (port) that gave it. */
type Answer = ResumeOutcome & { gateway: number };

beforeAll(async () => {
  redis = await RedisServer.start();
  [gatewayA, gatewayB, worker] = await Promise.all([
    NodeProcess.start('gateway', env(redis.url)),
    NodeProcess.start('gateway', env(redis.url)),
    NodeProcess.start('worker', env(redis.url)),
  ]);
  deadPort = await freePort();
});

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  // A case that stopped gateway A leaves a new one on the same port for the next.
  if (gatewayA.child.exitCode !== null || gatewayA.child.signalCode !== null) {
    gatewayA = await NodeProcess.start('gateway', { ...env(redis.url), PORT: String(gatewayA.port) });
  }
});

afterAll(async () => {
  await Promise.all([gatewayA, gatewayB, worker].map((n) => n?.stop('SIGKILL')));
  await redis?.stop();
});

/** One client of each raw endpoint, all dialing through the route, with what they saw. */
function clients(appId: string) {
  const dialed = { analytics: { port: 0 }, availability: { port: 0 }, logs: { port: 0 } };
  const options = (name: keyof typeof dialed) => ({ url: 'http://127.0.0.1:1', WebSocket: routed(dialed[name]), reconnect: TEST_BACKOFF });
  const analytics = new AnalyticsClient(options('analytics'));
  const availability = new AvailabilityClient(options('availability'));
  const logs = new LogsClient({ ...options('logs'), appId, userId: 'resume-test' });
  closers.push(() => analytics.close(), () => availability.close(), () => logs.close());
  const seen = {
    events: [] as ReceivedAnalyticsEvent[],
    alerts: [] as AvailabilityAlert[],
    logs: [] as LogEntry[],
    history: 0,
    resumed: { analytics: [] as Answer[], availability: [] as Answer[], logs: [] as Answer[] },
    gaps: [] as Gap[],
    errors: [] as Error[],
  };
  analytics.on('event', (e) => seen.events.push(e));
  availability.on('alert', (a) => seen.alerts.push(a));
  logs.on('logs', (entries) => seen.logs.push(...entries));
  logs.on('history', () => (seen.history += 1));
  const named: [keyof typeof seen.resumed, { on<K extends keyof BaseEvents>(event: K, listener: (payload: BaseEvents[K]) => void): () => void }][] = [
    ['analytics', analytics],
    ['availability', availability],
    ['logs', logs],
  ];
  for (const [name, client] of named) {
    client.on('resumed', (r) => seen.resumed[name].push({ ...r, gateway: dialed[name].port }));
    client.on('gap', (g) => seen.gaps.push(g));
    client.on('error', (e) => seen.errors.push(e));
  }
  const all = [analytics, availability, logs];
  return { analytics, availability, logs, all, seen };
}

const tag = (run: string, i: number) => `${run}-${i}`;

/** Posts event `i` of a run on all three products (through gateway B, which stays up). */
async function postAll(run: string, appId: string, i: number): Promise<void> {
  const results = await Promise.all([
    post(gatewayB.url, '/events', { type: 'page_view', visitor_id: tag(run, i) }),
    post(gatewayB.url, '/availability', { tourId: tag(run, i), tourTitle: 'Resume tour', availableSeats: 1, maxGroupSize: 10, threshold: 2 }),
    post(gatewayB.url, '/logs', { appId, level: 'info', message: tag(run, i) }),
  ]);
  for (const res of results) expect(res.status, JSON.stringify(res.json)).toBe(202);
}

/** What a client saw of a run, in arrival order. */
const runOf = (run: string, seen: ReturnType<typeof clients>['seen']) => ({
  events: seen.events.map((e) => e.visitor_id).filter((v) => v.startsWith(`${run}-`)),
  alerts: seen.alerts.map((a) => a.data.tourId).filter((v) => v.startsWith(`${run}-`)),
  logs: seen.logs.map((l) => l.message).filter((v) => v.startsWith(`${run}-`)),
});

describe('the SDK resumes on another gateway', () => {
  it.each([
    ['drained (SIGTERM, close 1012)', 'SIGTERM'],
    ['killed (SIGKILL)', 'SIGKILL'],
  ] as const)('gateway A %s: every event once, in order, no gap', async (_how, signal) => {
    const run = `resume-${signal.toLowerCase()}`;
    const appId = `app-${signal.toLowerCase()}`;
    route.to = gatewayA.port;
    const { all, seen } = clients(appId);
    await waitFor(() => all.every((c) => c.state === 'open' && c.position !== undefined), { ...WAIT, what: 'all three clients on gateway A' });

    for (let i = 0; i < 5; i += 1) await postAll(run, appId, i);
    await waitFor(() => Object.values(runOf(run, seen)).every((list) => list.length === 5), { ...WAIT, what: 'the first five on gateway A' });

    // Away: A goes down, and nothing answers where the client dials until B is routed in.
    route.to = deadPort;
    await gatewayA.stop(signal);
    await waitFor(() => all.every((c) => c.state === 'reconnecting'), { ...WAIT, what: 'the clients reconnecting' });
    const historyBefore = seen.history;
    for (let i = 5; i < 15; i += 1) await postAll(run, appId, i);
    // Let the worker publish them all before the clients come back (they are in the history then).
    const observer = new AnalyticsClient({ url: gatewayB.url, WebSocket, reconnect: TEST_BACKOFF });
    closers.push(() => observer.close());
    const stats = await waitFor(() => (observer.stats !== undefined && observer.stats.total_events >= 15 ? observer.stats : undefined), { ...WAIT, what: 'the worker done with the events' });
    expect(stats.total_events).toBeGreaterThanOrEqual(15);

    route.to = gatewayB.port;
    await waitFor(() => Object.values(runOf(run, seen)).every((list) => list.length >= 15), { ...WAIT, what: 'every event after the resume on gateway B' });
    for (let i = 15; i < 18; i += 1) await postAll(run, appId, i);
    await waitFor(() => Object.values(runOf(run, seen)).every((list) => list.length >= 18), { ...WAIT, what: 'live events on gateway B' });

    const expected = Array.from({ length: 18 }, (_, i) => tag(run, i));
    const got = runOf(run, seen);
    expect(got.events).toEqual(expected);
    expect(got.alerts).toEqual(expected);
    expect(got.logs).toEqual(expected);
    // `count` is in frames: analytics and availability replay one per event, logs may replay a batch.
    for (const [name, atLeast] of [['analytics', 10], ['availability', 10], ['logs', 1]] as const) {
      expect(seen.resumed[name], name).toHaveLength(1);
      expect(seen.resumed[name][0], name).toMatchObject({ recovered: true });
      expect((seen.resumed[name][0] as { count: number }).count, name).toBeGreaterThanOrEqual(atLeast);
    }
    expect(seen.gaps).toEqual([]);
    expect(seen.history).toBe(historyBefore); // recovered: nothing refetched
    expect(seen.errors).toEqual([]);

  });
});

describe('the SDK after Redis restarts empty', () => {
  it('gets recovered:false with a new epoch, emits one gap per channel, refetches, and goes on', async () => {
    const run = 'after-redis';
    const appId = 'app-redis';
    route.to = gatewayA.port;
    const { analytics, all, seen } = clients(appId);
    await waitFor(() => all.every((c) => c.state === 'open' && c.position !== undefined), { ...WAIT, what: 'all three clients on gateway A' });
    for (let i = 0; i < 3; i += 1) await postAll(run, appId, i);
    await waitFor(() => Object.values(runOf(run, seen)).every((list) => list.length === 3), { ...WAIT, what: 'the first events' });
    const before = all.map((c) => c.position);
    const historyBefore = seen.history;

    await redis.kill();
    await redis.restart();
    await Promise.all([gatewayA, gatewayB, worker].map((n) => n.waitReady(60_000)));
    // The gateway closes its clients (1012) when their channel's epoch changed; a client that
    // was not closed is moved to gateway B, which has to answer its resume as well. So a client
    // learns the loss on A (then resumes on B, recovered in the new epoch) or on B: wait until
    // every client's latest resume was answered by B, not merely for its first answer.
    route.to = gatewayB.port;
    await gatewayA.stop('SIGTERM');
    await waitFor(() => Object.values(seen.resumed).every((list) => list.at(-1)?.gateway === gatewayB.port), { ...WAIT, what: 'every client resumed on gateway B' });

    // Each client is told of the loss exactly once, in a new epoch; a later resume (after A was
    // drained) recovers in that new epoch.
    for (const [name, outcomes] of Object.entries(seen.resumed)) {
      const told = outcomes.findIndex((o) => !o.recovered);
      expect(outcomes.filter((o) => !o.recovered), `${name}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
      const newEpoch = outcomes[told]!.epoch;
      expect(outcomes.slice(told + 1).every((o) => o.recovered && o.epoch === newEpoch), `${name}: ${JSON.stringify(outcomes)}`).toBe(true);
    }
    for (const [i, client] of all.entries()) expect(client.position?.epoch).not.toBe(before[i]?.epoch);
    expect(seen.gaps.map((g) => g.reason)).toEqual(['not_recovered', 'not_recovered', 'not_recovered']);
    expect(new Set(seen.gaps.map((g) => g.channel))).toEqual(new Set(['analytics', 'availability', `logs:${appId}`]));
    // Fresh state: analytics took the new first frame's figures; logs asked for the history again.
    expect(analytics.stats?.total_events).toBeLessThan(3);
    await waitFor(() => seen.history > historyBefore, { ...WAIT, what: 'the logs history refetched' });

    // New events in the new epoch arrive (their offsets start low again: they are not mistaken for repeats).
    for (let i = 3; i < 6; i += 1) await postAll(run, appId, i);
    await waitFor(() => Object.values(runOf(run, seen)).every((list) => list.length === 6), { ...WAIT, what: 'events in the new epoch' });
    const expected = Array.from({ length: 6 }, (_, i) => tag(run, i));
    expect(runOf(run, seen)).toEqual({ events: expected, alerts: expected, logs: expected });
    expect(seen.errors).toEqual([]);
  });
});

describe('the SDK over Socket.IO across a gateway restart', () => {
  it('keeps its rooms and gets every missed event once, in order (connection state recovery)', async () => {
    const port = gatewayA.port;
    const client = new ErrorMonitorClient({ url: gatewayA.url, reconnect: TEST_BACKOFF, requestTimeoutMs: 20_000 });
    closers.push(() => client.close());
    const seen = { service: [] as ErrorEventRecord[], resumed: [] as { recovered: boolean }[], errors: [] as Error[] };
    client.on('error:service', (r) => seen.service.push(r));
    client.on('resumed', (r) => seen.resumed.push(r));
    client.on('error', (e) => seen.errors.push(e));
    await waitFor(() => client.state === 'open', { ...WAIT, what: 'connected to gateway A' });
    await client.subscribeService('resume-svc');
    const report = async (i: number) => {
      const res = await post(gatewayB.url, '/report', { service: 'resume-svc', level: 'error', error: { message: `sio-${i}` } });
      expect(res.status, JSON.stringify(res.json)).toBe(202);
    };
    await report(0);
    await waitFor(() => seen.service.length === 1, { ...WAIT, what: 'the first report' });

    await gatewayA.stop('SIGTERM');
    await waitFor(() => client.state === 'reconnecting', { ...WAIT, what: 'reconnecting' });
    for (let i = 1; i <= 5; i += 1) await report(i);
    // Another gateway process on the same address: the session lives in Redis, not in the old process.
    gatewayA = await NodeProcess.start('gateway', { ...env(redis.url), PORT: String(port) });
    await waitFor(() => seen.service.length >= 6, { ...WAIT, what: 'the missed reports' });
    await report(6);
    await waitFor(() => seen.service.length >= 7, { ...WAIT, what: 'a live report after the resume' });

    expect(seen.service.map((r) => r.message)).toEqual(Array.from({ length: 7 }, (_, i) => `sio-${i}`));
    expect(seen.resumed).toEqual([{ recovered: true }]);
    expect(client.socket.recovered).toBe(true);
    expect(seen.errors).toEqual([]);
  });
});
