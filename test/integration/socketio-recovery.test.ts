import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import pino from 'pino';
import { io } from 'socket.io-client';
import { createEngine } from '@switchboard/engine';
import { socketIoChannel, socketIoEmitFrame } from '@switchboard/protocol';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { IoClient } from '../support/socketio-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { post } from './helpers.js';

/**
 * Socket.IO connection state recovery (stock socket.io-client): a client that drops and comes
 * back within HISTORY_TTL_S, to the same gateway or another, gets `recovered === true`, its rooms
 * and every packet it missed, once and in order; later it starts afresh.
 */
const SECRET = 'socketio-recovery-secret-socketio-recovery';
const ISSUER = 'switchboard-tests';
/** Short, so the "after the window" cases do not take minutes. */
const TTL_S = 8;
const env = (extra: Record<string, string> = {}) => ({
  JWT_SECRET: SECRET,
  JWT_ISSUER: ISSUER,
  LOG_LEVEL: 'warn',
  HISTORY_TTL_S: String(TTL_S),
  WS_RATE_LIMIT_PER_S: '50',
  ...extra,
});
const token = (sub: string) => jwt.sign({ sub }, SECRET, { algorithm: 'HS256', issuer: ISSUER, expiresIn: 600 });
const clients: IoClient[] = [];

async function connect(node: { url: string }, sub: string): Promise<IoClient> {
  const c = await IoClient.connect(node.url, { auth: { token: token(sub) }, transports: ['websocket'] });
  clients.push(c);
  return c;
}

/** Joins the error rooms of `service` and level `error`, and the job's room. */
async function subscribeAll(c: IoClient, service: string, jobId: string): Promise<void> {
  expect(await c.ack('subscribe:service', service)).toEqual({ ok: true });
  expect(await c.ack('subscribe:level', 'error')).toEqual({ ok: true });
  expect(await c.ack('subscribe', jobId)).toEqual({ ok: true });
}

/** Drops the client's connection (not a Socket.IO disconnect): the server keeps its session. */
async function drop(c: IoClient): Promise<void> {
  const gone = new Promise((resolve) => c.socket.once('disconnect', resolve));
  c.socket.io.engine.close();
  await gone;
}

/** Reconnects the same client (same session id and recovery offset) to `node`. */
async function reconnect(c: IoClient, node: { url: string }): Promise<void> {
  // The manager reconnects to its `uri`: point it at the other gateway, as a balancer would.
  (c.socket.io as unknown as { uri: string }).uri = node.url;
  const back = new Promise<void>((resolve, reject) => {
    c.socket.once('connect', () => resolve());
    c.socket.once('connect_error', reject);
  });
  c.socket.connect();
  await back;
}

/** What a client received, as `event id-or-type` lines, in order. */
const sequence = (c: IoClient, from = 0) =>
  c.received.slice(from).map(({ event, args }) => {
    const payload = args[0] as Record<string, unknown>;
    const id = typeof payload['id'] === 'string' ? payload['id'] : `${String(payload['jobId'])}/${String(payload['type'])}`;
    return `${event} ${id}`;
  });

afterAll(() => {
  for (const c of clients) c.close();
});

describe('Socket.IO connection state recovery across two gateways (Redis)', () => {
  let cluster: TwoGatewayCluster;
  const report = (body: Record<string, unknown>) => post(cluster.gatewayA.url, '/report', body, {});
  const jobEvent = (jobId: string, body: Record<string, unknown>) => post(cluster.gatewayB.url, `/jobs/${jobId}/events`, body, {});

  beforeAll(async () => {
    cluster = await startTwoGatewayCluster((redisEnv) => env(redisEnv));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Posts errors and job events while `c` is away; `observer` (same rooms) sees them live. */
  async function missWhileAway(c: IoClient, observer: IoClient, service: string, jobId: string): Promise<void> {
    const from = observer.received.length;
    const ids: string[] = [];
    ids.push(String((await report({ service, error: { message: 'away 1' }, level: 'error' })).json['id']));
    expect((await jobEvent(jobId, { type: 'job_progress', data: { itemsScraped: 1, pagesScraped: 1, currentPage: 1, totalPages: 3, elapsedTime: 10 } })).status).toBe(202);
    ids.push(String((await report({ service: 'elsewhere', error: { message: 'away 2' }, level: 'fatal' })).json['id']));
    ids.push(String((await report({ service, error: { message: 'away 3' }, level: 'warning' })).json['id']));
    expect((await jobEvent(jobId, { type: 'job_completed' })).status).toBe(202);
    ids.push(String((await report({ service: 'elsewhere', error: { message: 'away 4' }, level: 'error' })).json['id']));
    // error:new ×4, error:service ×2, error:level ×2, job event ×2.
    await waitFor(() => observer.received.length - from >= 10, { what: 'the observer to get every packet sent meanwhile' });
    expect(c.socket.connected).toBe(false);
  }

  it('recovers on the other gateway: recovered, rooms back, every missed packet once and in order', async () => {
    const c = await connect(cluster.gatewayA, 'ursula');
    const observer = await connect(cluster.gatewayB, 'victor');
    await subscribeAll(c, 'svc-recover', 'job-recover');
    await subscribeAll(observer, 'svc-recover', 'job-recover');
    // One packet before the drop: the client holds a recovery offset from then on.
    const first = await report({ service: 'svc-recover', error: { message: 'before' }, level: 'error' });
    await c.next('error:level', (r) => r['id'] === first.json['id']);
    await observer.next('error:level', (r) => r['id'] === first.json['id']);
    const offset = c.received.at(-1)!.args.at(-1);
    expect(offset).toMatch(/^[^:]+:\d+$/);

    await drop(c);
    const observedFrom = observer.received.length;
    const receivedFrom = c.received.length;
    await missWhileAway(c, observer, 'svc-recover', 'job-recover');
    await reconnect(c, cluster.gatewayB);

    expect(c.socket.recovered).toBe(true);
    await waitFor(() => c.received.length - receivedFrom >= observer.received.length - observedFrom, { what: 'the missed packets' });
    expect(sequence(c, receivedFrom)).toEqual(sequence(observer, observedFrom));
    expect(sequence(c, receivedFrom)).toHaveLength(10);
    // Each missed packet carries its recovery offset, increasing: `<epoch>:<offset>` or, within a
    // report's frame (error:new, error:service, error:level), `<epoch>:<offset>.<part>` until its
    // last part.
    const places = c.received.slice(receivedFrom).map((r) => {
      const [, offset, part] = /^[^:]+:(\d+)(?:\.(\d+))?$/.exec(String(r.args.at(-1)))!;
      return Number(offset) * 100 + (part === undefined ? 99 : Number(part));
    });
    expect(places).toEqual([...places].sort((a, b) => a - b));
    expect(new Set(places).size).toBe(places.length);

    // Rooms are back: later room emits arrive without subscribing again.
    const after = await report({ service: 'svc-recover', error: { message: 'after' }, level: 'error' });
    await jobEvent('job-recover', { type: 'item_scraped', data: { title: 'later' } });
    await c.next('error:service', (r) => r['id'] === after.json['id'], 'error:service after recovery');
    await c.next('error:level', (r) => r['id'] === after.json['id'], 'error:level after recovery');
    await c.next('event', (e) => e['type'] === 'item_scraped', 'job event after recovery');
    expect(c.payloads('error:new').filter((r) => r['id'] === after.json['id'])).toHaveLength(1);

    const metrics = await cluster.gatewayB.metrics();
    expect(metricValue(metrics, 'switchboard_resumes_total{endpoint="socket.io",outcome="recovered"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'switchboard_replayed_frames_total{endpoint="socket.io"}')).toBeGreaterThanOrEqual(10);
  });

  it('recovers from inside a report: a client that processed its error:new only gets its error:service and error:level', async () => {
    const c = await connect(cluster.gatewayA, 'quentin');
    expect(await c.ack('subscribe:service', 'svc-part')).toEqual({ ok: true });
    expect(await c.ack('subscribe:level', 'fatal')).toEqual({ ok: true });
    const r = await report({ service: 'svc-part', error: { message: 'three audiences' }, level: 'fatal' });
    await c.next('error:level', (p) => p['id'] === r.json['id']);
    const parts = c.received.filter((e) => (e.args[0] as Record<string, unknown>)['id'] === r.json['id']);
    expect(parts.map((e) => e.event)).toEqual(['error:new', 'error:service', 'error:level']);
    const [epochOffset] = String(parts[2]!.args.at(-1)).split('.');
    expect(parts.map((e) => e.args.at(-1))).toEqual([`${epochOffset}.0`, `${epochOffset}.1`, epochOffset]);

    await drop(c);
    // As if the connection had dropped right after error:new: the client's offset is its part.
    (c.socket as unknown as { _lastOffset: string })._lastOffset = `${epochOffset}.0`;
    const receivedFrom = c.received.length;
    await reconnect(c, cluster.gatewayB);
    expect(c.socket.recovered).toBe(true);
    await c.next('error:level', (p) => p['id'] === r.json['id'] && c.received.length - receivedFrom >= 2, 'the rest of the report');
    const marker = await report({ service: 'svc-part', error: {}, level: 'fatal' });
    await c.next('error:level', (p) => p['id'] === marker.json['id']);
    expect(sequence(c, receivedFrom)).toEqual([
      `error:service ${String(r.json['id'])}`,
      `error:level ${String(r.json['id'])}`,
      `error:new ${String(marker.json['id'])}`,
      `error:service ${String(marker.json['id'])}`,
      `error:level ${String(marker.json['id'])}`,
    ]);
  });

  it('recovers on the same gateway too', async () => {
    const c = await connect(cluster.gatewayA, 'walter');
    const observer = await connect(cluster.gatewayA, 'xena');
    await subscribeAll(c, 'svc-same', 'job-same');
    await subscribeAll(observer, 'svc-same', 'job-same');
    const first = await report({ service: 'svc-same', error: {}, level: 'info' });
    await c.next('error:service', (r) => r['id'] === first.json['id']);
    await drop(c);
    const [observedFrom, receivedFrom] = [observer.received.length, c.received.length];
    await missWhileAway(c, observer, 'svc-same', 'job-same');
    await reconnect(c, cluster.gatewayA);
    expect(c.socket.recovered).toBe(true);
    await waitFor(() => c.received.length - receivedFrom >= 10, { what: 'the missed packets' });
    expect(sequence(c, receivedFrom)).toEqual(sequence(observer, observedFrom));
  });

  it('replays room changes made meanwhile: a socket removed from a job gets none of its later events', async () => {
    const bob = await connect(cluster.gatewayA, 'bob');
    expect(await bob.ack('subscribe', 'job-owned')).toEqual({ ok: true }); // no owner known yet
    const first = await report({ service: 'svc-owned', error: {}, level: 'info' });
    await bob.next('error:new', (r) => r['id'] === first.json['id']);
    await drop(bob);
    // The owner's first event makes every other socket leave the room, then is emitted to it.
    expect((await jobEvent('job-owned', { type: 'job_started', ownerId: 'alice' })).status).toBe(202);
    const marker = await report({ service: 'svc-owned', error: {}, level: 'info' });
    const watcher = await connect(cluster.gatewayB, 'watcher');
    await reconnect(bob, cluster.gatewayB);
    expect(bob.socket.recovered).toBe(true);
    await bob.next('error:new', (r) => r['id'] === marker.json['id'], 'the marker, missed meanwhile');
    await jobEvent('job-owned', { type: 'job_progress', data: { itemsScraped: 2, pagesScraped: 1, currentPage: 1, totalPages: 2, elapsedTime: 5 }, ownerId: 'alice' });
    const later = await report({ service: 'svc-owned', error: {}, level: 'info' });
    await bob.next('error:new', (r) => r['id'] === later.json['id']);
    await watcher.next('error:new', (r) => r['id'] === later.json['id']);
    expect(bob.payloads('event')).toEqual([]);
  });

  it('does not recover a session after the window, nor with a forged session or offset', async () => {
    const c = await connect(cluster.gatewayA, 'yuri');
    expect(await c.ack('subscribe:service', 'svc-late')).toEqual({ ok: true });
    const first = await report({ service: 'svc-late', error: {}, level: 'info' });
    await c.next('error:service', (r) => r['id'] === first.json['id']);
    const pid = (c.socket as unknown as { _pid: string })._pid;
    const offset = String(c.received.at(-1)!.args.at(-1));

    // Bad input first (the real session must survive it): unknown pid, offsets of another
    // epoch, not ours, or wrong types.
    for (const auth of [
      { pid: 'no-such-session', offset },
      { pid, offset: `otherepoch:${offset.split(':')[1]}` },
      { pid, offset: 'garbage' },
      { pid, offset: 42 },
      { pid: { $gt: '' }, offset },
    ]) {
      const forged = io(cluster.gatewayB.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: token('mallory'), ...auth } });
      await new Promise<void>((resolve, reject) => {
        forged.once('connect', () => resolve());
        forged.once('connect_error', reject);
      });
      expect(forged.recovered).toBe(false);
      expect(forged.id).not.toBe(c.socket.id);
      forged.close();
    }

    await drop(c);
    await report({ service: 'svc-late', error: { message: 'missed for good' }, level: 'info' });
    // Past the window: the stored session and the history have expired.
    await sleep(TTL_S * 1000 + 2_000);
    await reconnect(c, cluster.gatewayB);
    expect(c.socket.recovered).toBe(false);
    expect(c.payloads('error:service').map((r) => r['message'])).not.toContain('missed for good');
    const metrics = await cluster.gatewayB.metrics();
    expect(metricValue(metrics, 'switchboard_resumes_total{endpoint="socket.io",outcome="not_recovered"}')).toBeGreaterThanOrEqual(4);
  });

  it('fills a hole in a gateway\'s own subscription from the history: its connected clients miss nothing', async () => {
    const c = await connect(cluster.gatewayB, 'pat');
    const publisher = createEngine(cluster.redis.target, pino({ level: 'silent' }));
    await publisher.connect();
    const admin = cluster.redis.client();
    const emit = (n: number) =>
      publisher.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: socketIoChannel('/'), frame: socketIoEmitFrame('/', { rooms: [], except: [] }, 'notice', { n }) } });
    await emit(0);
    await c.next('notice', (p) => p['n'] === 0);
    // Every pub/sub connection drops; the gateways resubscribe after their retry delay, so these
    // frames, committed at once, never reach them through pub/sub.
    await admin.client('KILL', 'TYPE', 'pubsub');
    for (let n = 1; n <= 5; n++) await emit(n);
    await c.next('notice', (p) => p['n'] === 5, 'the frames published while unsubscribed');
    await emit(6);
    await c.next('notice', (p) => p['n'] === 6);
    expect(c.payloads('notice').map((p) => p['n'])).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(c.socket.connected).toBe(true);
    expect(metricValue(await cluster.gatewayB.metrics(), 'switchboard_gateway_refilled_frames_total')).toBeGreaterThanOrEqual(5);
    admin.disconnect();
    await publisher.close();
  });

  it('recovers the clients of a gateway that was drained (SIGTERM) or killed (SIGKILL) on the other one', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const doomed = await NodeProcess.start('gateway', env(cluster.redis.env));
      const c = await connect(doomed, `zoe-${signal}`);
      const observer = await connect(cluster.gatewayB, `zack-${signal}`);
      await subscribeAll(c, `svc-${signal}`, `job-${signal}`);
      await subscribeAll(observer, `svc-${signal}`, `job-${signal}`);
      const first = await report({ service: `svc-${signal}`, error: {}, level: 'error' });
      await c.next('error:level', (r) => r['id'] === first.json['id']);
      const gone = new Promise((resolve) => c.socket.once('disconnect', resolve));
      await doomed.stop(signal);
      await gone;
      const [observedFrom, receivedFrom] = [observer.received.length, c.received.length];
      await missWhileAway(c, observer, `svc-${signal}`, `job-${signal}`);
      await reconnect(c, cluster.gatewayB);
      expect(c.socket.recovered, signal).toBe(true);
      await waitFor(() => c.received.length - receivedFrom >= 10, { what: `the packets missed after ${signal}` });
      expect(sequence(c, receivedFrom)).toEqual(sequence(observer, observedFrom));
    }
  });
});

describe('Socket.IO connection state recovery on the in-memory engine (all role)', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await NodeProcess.start('all', env());
  });
  afterAll(async () => {
    await node?.stop('SIGKILL');
  });

  it('recovers within the window with every missed packet, and not after it', async () => {
    const c = await connect(node, 'ursula');
    const observer = await connect(node, 'victor');
    for (const client of [c, observer]) await subscribeAll(client, 'svc-mem', 'job-mem');
    const first = await post(node.url, '/report', { service: 'svc-mem', error: {}, level: 'error' }, {});
    await c.next('error:level', (r) => r['id'] === first.json['id']);
    await drop(c);
    const [observedFrom, receivedFrom] = [observer.received.length, c.received.length];
    await post(node.url, '/report', { service: 'svc-mem', error: { message: 'm1' }, level: 'error' }, {});
    await post(node.url, '/jobs/job-mem/events', { type: 'job_started' }, {});
    await post(node.url, '/report', { service: 'other', error: { message: 'm2' }, level: 'warning' }, {});
    await waitFor(() => observer.received.length - observedFrom >= 5, { what: 'the observer to get every packet' });
    await reconnect(c, node);
    expect(c.socket.recovered).toBe(true);
    await waitFor(() => c.received.length - receivedFrom >= 5, { what: 'the missed packets' });
    expect(sequence(c, receivedFrom)).toEqual(sequence(observer, observedFrom));

    await drop(c);
    await sleep(TTL_S * 1000 + 2_000);
    await reconnect(c, node);
    expect(c.socket.recovered).toBe(false);
  });
});
