import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { IoClient } from '../support/socketio-client.js';
import { messageText, opened } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY } from './helpers.js';

/**
 * Presence through the server API, with real gateways on a real redis-server: what the clients
 * of two gateways are connected to, counted once per user, agreed by both; a client moving
 * between gateways within the grace period never leaves; a gateway killed outright loses its
 * members within PRESENCE_TTL_S.
 */
const ADMIN_TOKEN = 'presence-admin-token-0123456789abcdef';
const SECRET = 'presence-test-secret-0123456789abcdef';
const TTL_S = 3;
/**
 * Long enough that a client moving at 500 ms is registered by its new gateway well before the old
 * one's grace ends, however slow the upgrade on a loaded machine (the move test checks that premise).
 */
const GRACE_S = 4;
/** A new gateway writes a join within its presence batch (50 ms): a move is only "within the grace period" with room for that. */
const REGISTER_MARGIN_MS = 1_000;
const MAX_PER_USER = 3;
const REPORT_INTERVAL_MS = 1_000;
/** DISCONNECT_CEILING_MS of the gateway. */
const DISCONNECT_CEILING_MS = 5_000;
let cluster: TwoGatewayCluster;
/** A third gateway, killed with SIGKILL by one test. */
let doomed: NodeProcess | undefined;
const sockets: WebSocket[] = [];
const ioClients: IoClient[] = [];

const token = (sub: string, claims: Record<string, unknown> = {}): string => jwt.sign({ sub, ...claims }, SECRET, { algorithm: 'HS256', expiresIn: 600 });

interface Member {
  clientId: string;
  userId: string | null;
  info: Record<string, unknown>;
}

async function api<T = Record<string, unknown>>(gateway: NodeProcess, path: string): Promise<T> {
  const res = await fetch(`${gateway.url}/api/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

const occupancyOf = async (gateway: NodeProcess, name: string): Promise<{ connections: number; users: number }> => {
  const { channels } = await api<{ channels: { name: string; connections: number; users: number }[] }>(gateway, '/channels');
  const found = channels.find((c) => c.name === name);
  return { connections: found?.connections ?? 0, users: found?.users ?? 0 };
};

async function allMembers(gateway: NodeProcess, name: string, limit = 2): Promise<Member[]> {
  const members: Member[] = [];
  let cursor: string | null = null;
  do {
    const page: { members: Member[]; next: string | null } = await api(
      gateway,
      `/channels/${encodeURIComponent(name)}/presence?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    members.push(...page.members);
    cursor = page.next;
  } while (cursor !== null);
  return members;
}

async function connect(gateway: NodeProcess, path: string, query: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(`${gateway.wsUrl(path)}?${new URLSearchParams(query).toString()}`);
  sockets.push(ws);
  await opened(ws);
  return ws;
}

/** The status and body of a refused upgrade; undefined when it was admitted (the socket is closed again). */
const upgradeRefusal = (url: string): Promise<{ status: number; body: string } | undefined> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.terminate();
      resolve(undefined);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });

/** Readings as runs of one value: `1 at -40..480 (31 readings), 0 at 2010..2900 (40 readings)`, times from `since`. */
function runsOf(readings: { connections: number; at: number }[], since: number): string {
  const runs: { connections: number; from: number; to: number; count: number }[] = [];
  for (const { connections, at } of readings) {
    const last = runs.at(-1);
    if (last?.connections === connections) Object.assign(last, { to: at - since, count: last.count + 1 });
    else runs.push({ connections, from: at - since, to: at - since, count: 1 });
  }
  return runs.map((r) => `${r.connections} at ${r.from}..${r.to} (${r.count} readings)`).join(', ');
}

const closed = (ws: WebSocket): Promise<void> =>
  new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close();
  });

/** Every process's environment, on the given Redis. */
const nodeEnv = (redisEnv: Record<string, string>): Record<string, string> => ({
  ...redisEnv,
  INGEST_API_KEYS: PRODUCER_KEY,
  ADMIN_TOKEN,
  JWT_SECRET: SECRET,
  PRESENCE_TTL_S: String(TTL_S),
  PRESENCE_GRACE_S: String(GRACE_S),
  MAX_CONNECTIONS_PER_USER: String(MAX_PER_USER),
  // Gateways announce themselves (for disconnects) every interval and count as live for 3 of them.
  LOG_METRICS_INTERVAL_MS: String(REPORT_INTERVAL_MS),
  LOG_LEVEL: 'warn',
});

interface DisconnectBody {
  disconnected: number;
  gateways: { expected: number; answered: number; missing: string[] };
}

/** POST /users/{userId}/disconnect: the answer, and how long it took. */
async function disconnectUser(gateway: NodeProcess, userId: string): Promise<{ body: DisconnectBody; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${gateway.url}/api/v1/users/${encodeURIComponent(userId)}/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return { body: (await res.json()) as DisconnectBody, ms: Date.now() - started };
}

/** Until the live gateways are `count` (a gateway killed by an earlier test goes stale within 3 report intervals). */
const liveGateways = (gateway: NodeProcess, count: number) =>
  waitFor(async () => (await disconnectUser(gateway, 'nobody')).body.gateways.expected === count, { what: `${count} live gateways`, timeoutMs: 60_000 });

beforeAll(async () => {
  cluster = await startTwoGatewayCluster(nodeEnv);
});

afterEach(async () => {
  // A test that failed half-way leaves its third gateway running: the next test counts the live ones.
  await doomed?.stop('SIGKILL');
  doomed = undefined;
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const client of ioClients.splice(0)) client.close();
  // Every test starts with nobody present: the grace period runs out, then the leaves are written.
  await waitFor(async () => (await api<{ channels: unknown[] }>(cluster.gatewayA, '/channels')).channels.length === 0, {
    what: 'every channel vacated',
    timeoutMs: 30_000,
  });
});

afterAll(async () => {
  await doomed?.stop('SIGKILL');
  await cluster?.stop();
});

describe('presence across gateways', () => {
  it('counts the clients of both gateways, each user once, and both gateways agree', async () => {
    const { gatewayA, gatewayB } = cluster;
    await connect(gatewayA, '/ws/analytics', { token: token('alice'), clientId: 'alice-tab-1' });
    await connect(gatewayB, '/ws/analytics', { token: token('alice'), clientId: 'alice-tab-2' });
    await connect(gatewayB, '/ws/analytics', { token: token('bob'), clientId: 'bob-tab-01' });
    await connect(gatewayA, '/ws/analytics', { clientId: 'anonymous-1' });
    await connect(gatewayB, '/ws/availability', { clientId: 'watcher-01' });

    const expected = { connections: 4, users: 3 };
    for (const gateway of [gatewayA, gatewayB]) {
      await waitFor(async () => JSON.stringify(await occupancyOf(gateway, 'analytics')) === JSON.stringify(expected), { what: 'analytics occupancy' });
    }
    // Written in a batch of its own when its upgrade came after the others' batch went out.
    await waitFor(async () => (await occupancyOf(gatewayA, 'availability')).connections === 1, { what: 'availability occupancy' });
    expect(await occupancyOf(gatewayA, 'availability')).toEqual({ connections: 1, users: 1 });

    for (const gateway of [gatewayA, gatewayB]) {
      const members = await allMembers(gateway, 'analytics');
      expect(members).toEqual([
        { clientId: 'alice-tab-1', userId: 'alice', info: { endpoint: 'analytics' } },
        { clientId: 'alice-tab-2', userId: 'alice', info: { endpoint: 'analytics' } },
        { clientId: 'anonymous-1', userId: null, info: { endpoint: 'analytics' } },
        { clientId: 'bob-tab-01', userId: 'bob', info: { endpoint: 'analytics' } },
      ]);
    }
    // The gauges: by product only, the same cluster-wide figures on every gateway.
    for (const gateway of [gatewayA, gatewayB]) {
      await waitFor(async () => metricValue(await gateway.metrics(), 'switchboard_channel_connections{product="analytics"}') === 4, {
        what: 'the analytics connections gauge',
      });
      const metrics = await gateway.metrics();
      expect(metricValue(metrics, 'switchboard_channel_users{product="analytics"}')).toBe(3);
      expect(metricValue(metrics, 'switchboard_channels_occupied{product="availability"}')).toBe(1);
      expect(metricValue(metrics, 'switchboard_channel_connections{product="jobs"}')).toBe(0);
    }
    const page = await api<{ members: Member[]; next: string | null; occupancy: unknown }>(gatewayB, '/channels/analytics/presence?limit=3');
    expect(page.members).toHaveLength(3);
    expect(page.next).toBe('anonymous-1');
    expect(page.occupancy).toEqual(expected);
  });

  it('shows /ws/logs apps and Socket.IO clients (error feed, job rooms)', async () => {
    const { gatewayA, gatewayB } = cluster;
    const logs = await connect(gatewayB, '/ws/logs', { clientId: 'logs-reader-1' });
    logs.send(JSON.stringify({ type: 'auth', data: { userId: 'carol', appId: 'shop', token: token('carol', { apps: ['shop'] }) } }));
    const io = await IoClient.connect(gatewayA.url, { transports: ['websocket'], auth: { token: token('dave') } });
    ioClients.push(io);
    const jobId = `job-${randomUUID().slice(0, 8)}`;
    expect(await io.ack('subscribe', jobId)).toEqual({ ok: true });

    await waitFor(async () => (await occupancyOf(gatewayA, 'logs:shop')).connections === 1, { what: 'the logs reader' });
    expect(await allMembers(gatewayA, 'logs:shop')).toEqual([{ clientId: 'logs-reader-1', userId: 'carol', info: { endpoint: 'logs' } }]);
    await waitFor(async () => (await occupancyOf(gatewayB, `jobs:${jobId}`)).connections === 1, { what: 'the job follower' });
    const socketId = io.socket.id;
    expect(await allMembers(gatewayB, `jobs:${jobId}`)).toEqual([{ clientId: socketId, userId: 'dave', info: { endpoint: 'socketio' } }]);
    expect(await allMembers(gatewayB, 'errors')).toEqual([{ clientId: socketId, userId: 'dave', info: { endpoint: 'socketio' } }]);

    expect(await io.ack('unsubscribe', jobId)).toEqual({ ok: true });
    await waitFor(async () => (await occupancyOf(gatewayB, `jobs:${jobId}`)).connections === 0, { what: 'the job room left after the grace period' });
    expect((await occupancyOf(gatewayB, 'errors')).connections).toBe(1);
  });

  it('a client that leaves is gone after the grace period, not before', async () => {
    const ws = await connect(cluster.gatewayA, '/ws/availability', { clientId: 'leaving-01' });
    await waitFor(async () => (await occupancyOf(cluster.gatewayB, 'availability')).connections === 1, { what: 'the join' });
    await closed(ws);
    const closedAt = Date.now();
    await waitFor(async () => (await occupancyOf(cluster.gatewayB, 'availability')).connections === 0, { what: 'the leave', timeoutMs: 20_000 });
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_S * 1000 - 100);
  });

  it('a client moving to the other gateway within the grace period never leaves: the channel is never vacated', async () => {
    const { gatewayA, gatewayB } = cluster;
    const first = await connect(gatewayA, '/ws/availability', { clientId: 'mover-0001', token: token('erin') });
    await waitFor(async () => (await occupancyOf(gatewayB, 'availability')).connections === 1, { what: 'the join' });

    // Watch the occupancy through the move and well past the old gateway's grace period. Each
    // reading is kept with when it was asked for (ms after the close on A), and the move's
    // duration, so a failure says what it saw and when.
    const readings: { connections: number; at: number }[] = [];
    // On a Redis Cluster, which masters serve the slots: a failover during the move (its writes
    // are replicated asynchronously) would explain a reading of its own.
    const masters = async () => (await cluster.redis.cluster?.masters())?.map((m) => m.port).join(',') ?? 'one redis-server';
    const mastersBefore = await masters();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const at = Date.now();
        readings.push({ connections: (await occupancyOf(gatewayB, 'availability')).connections, at });
      }
    })();
    await closed(first);
    const closedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await connect(gatewayB, '/ws/availability', { clientId: 'mover-0001', token: token('erin') });
    const movedAfter = Date.now() - closedAt;
    await new Promise((resolve) => setTimeout(resolve, (GRACE_S + TTL_S) * 1000 + 1000));
    watching = false;
    await watcher;

    const mastersAfter = await masters();
    const story =
      `masters ${mastersBefore === mastersAfter ? `unchanged (${mastersBefore})` : `changed: ${mastersBefore} -> ${mastersAfter}`}; ` +
      `moved to B ${movedAfter} ms after the close on A; occupancy (connections, ms after the close): ${runsOf(readings, closedAt)}`;
    expect(readings.length).toBeGreaterThan(5);
    // The premise: the client was back (on B), and registered there, within the grace period.
    expect(movedAfter, story).toBeLessThan(GRACE_S * 1000 - REGISTER_MARGIN_MS);
    expect(readings.filter((r) => r.connections !== 1), story).toEqual([]);
    expect(await allMembers(gatewayA, 'availability')).toEqual([{ clientId: 'mover-0001', userId: 'erin', info: { endpoint: 'availability' } }]);
  });

  it('a gateway killed outright loses its members within PRESENCE_TTL_S', async () => {
    doomed = await NodeProcess.start('gateway', nodeEnv(cluster.redis.env));
    for (let n = 0; n < 5; n += 1) await connect(doomed, '/ws/analytics', { clientId: `doomed-client-${n}` });
    await connect(cluster.gatewayA, '/ws/analytics', { clientId: 'survivor-01' });
    await waitFor(async () => (await occupancyOf(cluster.gatewayA, 'analytics')).connections === 6, { what: 'six connections' });
    // Held past a few refresh periods first: refreshes keep them, not the first write alone.
    await new Promise((resolve) => setTimeout(resolve, TTL_S * 1000));
    expect((await occupancyOf(cluster.gatewayA, 'analytics')).connections).toBe(6);

    await doomed.stop('SIGKILL');
    doomed = undefined;
    const killedAt = Date.now();
    await waitFor(async () => (await occupancyOf(cluster.gatewayB, 'analytics')).connections === 1, { what: 'the dead gateway’s members gone', timeoutMs: 20_000 });
    const goneAfterMs = Date.now() - killedAt;
    expect(goneAfterMs).toBeLessThanOrEqual(TTL_S * 1000 + 2_000);
    expect((await allMembers(cluster.gatewayB, 'analytics')).map((m) => m.clientId)).toEqual(['survivor-01']);
  });

  it('POST /users/{userId}/disconnect closes every connection of the user on every gateway, and only those', async () => {
    const { gatewayA, gatewayB } = cluster;
    const closes: { code: number; reason: string }[] = [];
    const watchClose = (ws: WebSocket) => ws.once('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
    watchClose(await connect(gatewayA, '/ws/analytics', { token: token('frank') }));
    watchClose(await connect(gatewayB, '/ws/availability', { token: token('frank') }));
    const io = await IoClient.connect(gatewayB.url, { transports: ['websocket'], auth: { token: token('frank') } });
    ioClients.push(io);
    const ioDisconnected = new Promise<string>((resolve) => io.socket.once('disconnect', (reason) => resolve(reason)));
    const other = await connect(gatewayA, '/ws/analytics', { token: token('grace') });
    await liveGateways(gatewayA, 2);

    // Every live gateway's answer counted, however long it takes under load (up to the ceiling).
    expect((await disconnectUser(gatewayA, 'frank')).body).toEqual({ disconnected: 3, gateways: { expected: 2, answered: 2, missing: [] } });
    expect(await ioDisconnected).toBe('io server disconnect');
    await waitFor(() => closes.length === 2, { what: 'both raw connections closed' });
    expect(closes).toEqual([
      { code: 1008, reason: 'disconnected by an administrator' },
      { code: 1008, reason: 'disconnected by an administrator' },
    ]);
    expect(other.readyState).toBe(WebSocket.OPEN);

    expect((await disconnectUser(gatewayB, 'frank')).body).toEqual({ disconnected: 0, gateways: { expected: 2, answered: 2, missing: [] } });
  });

  it('POST /users/{userId}/disconnect waits for a live gateway that does not answer only up to its ceiling, names it, and stops waiting for it once it is gone', async () => {
    const { gatewayA } = cluster;
    doomed = await NodeProcess.start('gateway', nodeEnv(cluster.redis.env));
    await liveGateways(gatewayA, 3);
    const ivanOnA = await connect(gatewayA, '/ws/analytics', { token: token('ivan') });
    // What the socket saw, for a failure to tell: a 1006 close follows an error (an invalid frame, a reset).
    const seen: string[] = [];
    ivanOnA.on('message', (data) => seen.push(`frame ${messageText(data).slice(0, 80)}`));
    ivanOnA.on('error', (err) => seen.push(`error ${err.message}`));
    const since = Date.now();
    let ivanOnAClosed = 'still open';
    ivanOnA.once('close', (code, reason) => (ivanOnAClosed = `closed ${code} "${reason.toString()}" ${Date.now() - since} ms after it opened; saw: ${seen.join(' | ')}`));
    await connect(doomed, '/ws/analytics', { token: token('ivan') });
    const doomedAt = Date.now() - since;
    // Both connections admitted and registered (the frozen gateway's too) before freezing it.
    const ivansConnections = async () => (await allMembers(gatewayA, 'analytics', 100)).filter((m) => m.userId === 'ivan').length;
    await waitFor(async () => (await ivansConnections()) === 2, { what: "ivan's two connections in the channel's presence" });

    if (ivanOnAClosed !== 'still open') {
      // How gateway A saw it close, and what it logged: the story of a premise that failed.
      const closes = (await gatewayA.metrics()).split('\n').filter((line) => line.startsWith('switchboard_ws_disconnects_total{endpoint="analytics"'));
      ivanOnAClosed += `; ivan on the third gateway ${doomedAt} ms after; A's closes: ${closes.join(', ')}; A's log: ${gatewayA.output.slice(-15).join(' | ')}`;
    }
    expect(ivanOnAClosed, "premise: ivan's connection on gateway A is open").toBe('still open');

    // Frozen: its announcement still fresh, it answers nothing.
    doomed.child.kill('SIGSTOP');
    const askedAt = Date.now();
    const frozen = await disconnectUser(gatewayA, 'ivan');
    expect(frozen.body, 'premise: the frozen gateway still counted as live').toMatchObject({ gateways: { expected: 3 } });
    const openOnA = metricValue(await gatewayA.metrics(), 'maicivy_websocket_connections{endpoint="analytics"}');
    expect(frozen.body, `gateway A had ${openOnA} open /ws/analytics connections after the disconnect asked at ${askedAt}; ivan's socket on A: ${ivanOnAClosed}`).toEqual({ disconnected: 1, gateways: { expected: 3, answered: 2, missing: [expect.stringMatching(new RegExp(`^${doomed.nodeId}:`))] } });
    expect(frozen.ms).toBeGreaterThanOrEqual(DISCONNECT_CEILING_MS - 100);

    // Once its announcement is stale it is not waited for: the answer comes as soon as the others answered.
    await liveGateways(gatewayA, 2);
    const gone = await disconnectUser(gatewayA, 'ivan');
    expect(gone.body).toEqual({ disconnected: 0, gateways: { expected: 2, answered: 2, missing: [] } });
    expect(gone.ms).toBeLessThan(DISCONNECT_CEILING_MS);
    await doomed.stop('SIGKILL');
    doomed = undefined;
  });

  it('POST /users/{userId}/disconnect stops waiting for a drained gateway at once, before its announcement would go stale', async () => {
    const { gatewayA } = cluster;
    doomed = await NodeProcess.start('gateway', nodeEnv(cluster.redis.env));
    await liveGateways(gatewayA, 3);
    // A graceful stop (SIGTERM drains): its last announcement is at most one report interval old
    // here, still fresh for the three intervals a reader allows; only its withdrawal can drop it.
    const signalledAt = Date.now();
    await doomed.stop('SIGTERM');
    doomed = undefined;
    expect(Date.now() - signalledAt, 'premise: asked while a killed gateway would still count as live').toBeLessThan(2 * REPORT_INTERVAL_MS);
    const after = await disconnectUser(gatewayA, 'nobody');
    expect(after.body).toEqual({ disconnected: 0, gateways: { expected: 2, answered: 2, missing: [] } });
  });

  it('MAX_CONNECTIONS_PER_USER holds across gateways and endpoints, with a clear refusal', async () => {
    const { gatewayA, gatewayB } = cluster;
    await connect(gatewayA, '/ws/analytics', { token: token('henry'), clientId: 'henry-tab-01' });
    await connect(gatewayB, '/ws/availability', { token: token('henry') });
    ioClients.push(await IoClient.connect(gatewayB.url, { transports: ['websocket'], auth: { token: token('henry') } }));
    // The count is the presence data: written with the channels' joins, in the same batches.
    for (const name of ['analytics', 'availability', 'errors']) {
      await waitFor(async () => (await occupancyOf(gatewayA, name)).connections === 1, { what: `henry on ${name}` });
    }
    const refusal = await waitFor(() => upgradeRefusal(`${gatewayA.wsUrl('/ws/analytics')}?token=${token('henry')}`), { what: 'the fourth connection refused' });
    expect(refusal).toEqual({ status: 429, body: '{"error":"too many connections for this user (MAX_CONNECTIONS_PER_USER is 3)"}' });
    expect(await IoClient.refusal(gatewayA.url, { transports: ['websocket'], auth: { token: token('henry') } })).toBe('Too many connections for this user');
    // Its own clientId coming back is not a new connection; other users are not affected.
    await connect(gatewayB, '/ws/analytics', { token: token('henry'), clientId: 'henry-tab-01' });
    await connect(gatewayA, '/ws/analytics', { token: token('ivy') });
  });
});
