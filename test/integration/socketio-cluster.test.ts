import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { createEngine } from '@switchboard/engine';
import { jobOwnerKey, socketIoChannel, socketIoEmitFrame } from '@switchboard/protocol';
import { suiteRedis, type TestRedis } from '../support/test-redis.js';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { IoClient } from '../support/socketio-client.js';
import { Haproxy } from '../support/haproxy.js';
import { waitFor } from '../support/wait.js';
import { post } from './helpers.js';
import { anyString, matching } from '../support/matchers.js';

/**
 * The error monitor and the job monitor (Socket.IO, default namespace) on two gateways and a
 * worker over a real Redis, and through a real HAProxy with cookie stickiness.
 */
const SECRET = 'socketio-test-secret-socketio-test-secret';
const ISSUER = 'switchboard-tests';
let redis: TestRedis;
let gatewayA: NodeProcess;
let gatewayB: NodeProcess;
let cluster: TwoGatewayCluster;
const clients: IoClient[] = [];

const token = (sub: string, claims: Record<string, unknown> = {}, options: jwt.SignOptions = { expiresIn: 300 }) =>
  jwt.sign({ sub, ...claims }, SECRET, { algorithm: 'HS256', issuer: ISSUER, ...options });

async function connect(node: NodeProcess | Haproxy, options: Parameters<typeof IoClient.connect>[1] = {}): Promise<IoClient> {
  const c = await IoClient.connect(node.url, options);
  clients.push(c);
  return c;
}

const report = (node: NodeProcess, body: Record<string, unknown>) => post(node.url, '/report', body, {});
const jobEvent = (node: NodeProcess, jobId: string, body: Record<string, unknown>) => post(node.url, `/jobs/${jobId}/events`, body, {});
const progress = { itemsScraped: 10, pagesScraped: 2, currentPage: 2, totalPages: 5, elapsedTime: 1234 };

beforeAll(async () => {
  const env = (redisEnv: Record<string, string>) => ({ ...redisEnv, JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, LOG_LEVEL: 'warn', WS_RATE_LIMIT_PER_S: '20' });
  cluster = await startTwoGatewayCluster(env);
  ({ redis, gatewayA, gatewayB } = cluster);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

describe(`error monitor across two gateways (${suiteRedis()} Redis)`, () => {
  it('emits error:new to all, error:service and error:level to their rooms only, on every node', async () => {
    const billingOnA = await connect(gatewayA);
    const fatalOnB = await connect(gatewayB);
    const plainOnB = await connect(gatewayB);
    expect(await billingOnA.ack('subscribe:service', 'billing')).toEqual({ ok: true });
    expect(await fatalOnB.ack('subscribe:level', 'fatal')).toEqual({ ok: true });

    const first = await report(gatewayA, {
      service: 'billing',
      error: { message: 'card declined', stack: 'Error: card declined\n    at pay.js:1:1' },
      level: 'error',
      path: '/pay',
      method: 'POST',
      tenant: 'acme',
    });
    expect(first.status).toBe(202);
    const second = await report(gatewayB, { service: 'search', error: {}, level: 'fatal' });
    expect(second.status).toBe(202);

    for (const c of [billingOnA, fatalOnB, plainOnB]) {
      await c.next('error:new', (r) => r['id'] === second.json['id'], 'both reports on every client');
      expect(c.payloads('error:new').map((r) => r['id'])).toEqual([first.json['id'], second.json['id']]);
    }
    const record = billingOnA.payloads('error:new')[0]!;
    expect(record).toEqual({
      id: first.json['id'],
      service: 'billing',
      message: 'card declined',
      stack: 'Error: card declined\n    at pay.js:1:1',
      path: '/pay',
      method: 'POST',
      level: 'error',
      metadata: { tenant: 'acme' },
      createdAt: anyString,
    });
    expect(new Date(record['createdAt'] as string).toISOString()).toBe(record['createdAt']);
    expect(billingOnA.payloads('error:new')[1]).toMatchObject({ message: null, stack: null, path: null, method: null, metadata: null });

    expect(billingOnA.payloads('error:service').map((r) => r['id'])).toEqual([first.json['id']]);
    expect(billingOnA.payloads('error:level')).toEqual([]);
    expect(fatalOnB.payloads('error:level').map((r) => r['id'])).toEqual([second.json['id']]);
    expect(fatalOnB.payloads('error:service')).toEqual([]);
    expect(plainOnB.payloads('error:service')).toEqual([]);
    expect(plainOnB.payloads('error:level')).toEqual([]);
  });

  it('stops room delivery after unsubscribe', async () => {
    const c = await connect(gatewayB);
    expect(await c.ack('subscribe:service', 'checkout')).toEqual({ ok: true });
    const before = await report(gatewayA, { service: 'checkout', error: { message: 'one' }, level: 'warning' });
    await c.next('error:service', (r) => r['id'] === before.json['id']);
    expect(await c.ack('unsubscribe:service', 'checkout')).toEqual({ ok: true });
    const after = await report(gatewayA, { service: 'checkout', error: { message: 'two' }, level: 'warning' });
    // error:new of the same report is published after error:service... no: before it. Wait for a
    // later marker report: everything published before it has arrived by then.
    await c.next('error:new', (r) => r['id'] === after.json['id']);
    const marker = await report(gatewayA, { service: 'marker', error: {}, level: 'info' });
    await c.next('error:new', (r) => r['id'] === marker.json['id']);
    expect(c.payloads('error:service').map((r) => r['id'])).toEqual([before.json['id']]);
  });

  it('answers wrong argument types with {ok:false,error} and keeps the socket', async () => {
    const c = await connect(gatewayA);
    expect(await c.ack('subscribe:service', 42)).toEqual({ ok: false, error: 'service: expected a non-empty string' });
    expect(await c.ack('subscribe:level', { level: 'x' })).toEqual({ ok: false, error: 'level: expected a non-empty string' });
    expect(await c.ack('subscribe:service', 'has spaces')).toMatchObject({ ok: false, error: matching(/^service: /) });
    c.socket.emit('subscribe:service'); // no argument, no ack: must not crash anything
    expect(await c.ack('subscribe:service', 'ok-service')).toEqual({ ok: true });
    expect(c.socket.connected).toBe(true);
  });

  it('validates /report bodies like the other ingest routes', async () => {
    expect(await report(gatewayA, { error: {}, level: 'error' })).toEqual({ status: 400, json: { error: 'service: expected a non-empty string' } });
    expect((await report(gatewayA, { service: 's', error: 'boom', level: 'error' })).json['error']).toMatch(/^error: /);
    expect((await report(gatewayA, { service: 's', error: { message: 42 }, level: 'error' })).json['error']).toBe('error.message: expected a string');
    expect((await report(gatewayA, { service: 's', error: {} })).json['error']).toMatch(/^level: /);
  });
});

describe('job monitor across two gateways', () => {
  it('delivers job events to subscribers of the job only, and stops after unsubscribe', async () => {
    const onB = await connect(gatewayB, { auth: { token: token('carol') } });
    const otherJobOnA = await connect(gatewayA, { auth: { token: token('dave') } });
    expect(await onB.ack('subscribe', 'job-42')).toEqual({ ok: true });
    expect(await otherJobOnA.ack('subscribe', 'job-7')).toEqual({ ok: true });

    expect((await jobEvent(gatewayA, 'job-42', { type: 'job_started', data: { url: 'https://example.com' } })).status).toBe(202);
    expect((await jobEvent(gatewayA, 'job-42', { type: 'job_progress', data: progress })).status).toBe(202);
    expect((await jobEvent(gatewayB, 'job-7', { type: 'job_completed' })).status).toBe(202);
    await onB.next('event', (e) => e['type'] === 'job_progress');
    await otherJobOnA.next('event', (e) => e['type'] === 'job_completed');
    expect(onB.payloads('event')).toEqual([
      { type: 'job_started', jobId: 'job-42', timestamp: anyString, data: { url: 'https://example.com' } },
      { type: 'job_progress', jobId: 'job-42', timestamp: anyString, data: progress },
    ]);
    expect(otherJobOnA.payloads('event').map((e) => e['jobId'])).toEqual(['job-7']);

    expect(await onB.ack('unsubscribe', 'job-42')).toEqual({ ok: true });
    expect(await onB.ack('subscribe', 'job-marker')).toEqual({ ok: true });
    await jobEvent(gatewayA, 'job-42', { type: 'item_scraped', data: { title: 'late' } });
    await jobEvent(gatewayA, 'job-marker', { type: 'job_started' });
    await onB.next('event', (e) => e['jobId'] === 'job-marker');
    expect(onB.payloads('event').filter((e) => e['type'] === 'item_scraped')).toEqual([]);
  });

  it('needs an authenticated user to subscribe to a job', async () => {
    const anonymous = await connect(gatewayA);
    expect(await anonymous.ack('subscribe', 'job-42')).toEqual({ ok: false, error: 'Authentication required' });
    expect(await anonymous.ack('subscribe:service', 'billing')).toEqual({ ok: true }); // the error feed stays open
  });

  it('restricts a job with an owner to that owner and admins, cluster-wide', async () => {
    const bobEarly = await connect(gatewayA, { auth: { token: token('bob') } });
    expect(await bobEarly.ack('subscribe', 'job-private')).toEqual({ ok: true }); // no owner known yet
    expect((await jobEvent(gatewayB, 'job-private', { type: 'job_started', ownerId: 'alice' })).status).toBe(202);

    const alice = await connect(gatewayB, { auth: { token: token('alice') } });
    const admin = await connect(gatewayA, { auth: { token: token('root', { roles: ['admin'] }) } });
    const bobLate = await connect(gatewayB, { auth: { token: token('bob') } });
    // The worker records the owner when it processes the event.
    const store = redis.client();
    await waitFor(async () => (await store.get(redis.stateKey(jobOwnerKey('job-private')))) === 'alice', { what: 'the owner recorded' });
    store.disconnect();
    expect(await alice.ack('subscribe', 'job-private')).toEqual({ ok: true });
    expect(await bobLate.ack('subscribe', 'job-private')).toEqual({ ok: false, error: 'Forbidden: this job belongs to another user' });
    expect(await admin.ack('subscribe', 'job-private')).toEqual({ ok: true });

    await jobEvent(gatewayA, 'job-private', { type: 'job_progress', data: progress, ownerId: 'alice' });
    await alice.next('event', (e) => e['type'] === 'job_progress');
    await admin.next('event', (e) => e['type'] === 'job_progress');
    // Bob joined before the owner was known: the owner's first event removed him from the room.
    expect(await bobEarly.ack('subscribe', 'job-marker-2')).toEqual({ ok: true });
    await jobEvent(gatewayA, 'job-marker-2', { type: 'job_started' });
    await bobEarly.next('event', (e) => e['jobId'] === 'job-marker-2');
    expect(bobEarly.payloads('event').filter((e) => e['type'] === 'job_progress')).toEqual([]);

    // A producer naming another owner cannot take the job over: the event is dead-lettered and
    // the owner keeps the room (before, its leave evicted every socket but the forged owner's).
    const dead = redis.client();
    const deadBefore = await dead.xlen('sb:ingest:dead');
    await jobEvent(gatewayA, 'job-private', { type: 'item_scraped', ownerId: 'mallory', data: { title: 'forged' } });
    await waitFor(async () => (await dead.xlen('sb:ingest:dead')) > deadBefore, { what: 'the forged-owner event dead-lettered' });
    const [[, fields = []] = []] = (await dead.xrevrange('sb:ingest:dead', '+', '-', 'COUNT', 1)) as [string, string[]][];
    expect(fields[fields.indexOf('reason') + 1]).toBe('ownerId: job "job-private" belongs to another owner');
    dead.disconnect();
    await jobEvent(gatewayA, 'job-private', { type: 'job_completed', ownerId: 'alice' });
    await alice.next('event', (e) => e['type'] === 'job_completed');
    expect(alice.payloads('event').filter((e) => e['type'] === 'item_scraped')).toEqual([]);
  });

  it('reaches all of a user\'s sessions on every node through user:<sub>', async () => {
    const onA = await connect(gatewayA, { auth: { token: token('erin') } });
    const onB = await connect(gatewayB, { auth: { token: token('erin') } });
    const stranger = await connect(gatewayB, { auth: { token: token('frank') } });
    // Any process with the engine can emit to rooms: one frame on the namespace's channel.
    const publisher = createEngine(redis.target, pino({ level: 'silent' }));
    await publisher.connect();
    const emit = (room: string, text: string) =>
      publisher.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: socketIoChannel('/'), frame: socketIoEmitFrame('/', { rooms: [room], except: [] }, 'notice', { text }) } });
    await emit('user:erin', 'hello erin');
    await onA.next('notice');
    await onB.next('notice');
    await emit('user:frank', 'marker');
    await stranger.next('notice');
    expect(stranger.payloads('notice')).toEqual([{ text: 'marker' }]);
    expect(onA.payloads('notice')).toEqual([{ text: 'hello erin' }]);
    await publisher.close();
  });

  it('validates /jobs/:jobId/events: unknown types and bad progress data are 400', async () => {
    expect(await jobEvent(gatewayA, 'job-1', { type: 'job_exploded' })).toEqual({
      status: 400,
      json: { error: 'type: expected one of job_started, job_progress, job_completed, job_failed, item_scraped, error' },
    });
    expect((await jobEvent(gatewayA, 'job-1', { type: 'job_progress', data: { ...progress, totalPages: 'five' } })).json).toEqual({
      error: 'data.totalPages: expected a non-negative number',
    });
    expect((await jobEvent(gatewayA, 'job%20with%20spaces', { type: 'job_started' })).json['error']).toMatch(/^jobId: /);
    expect((await jobEvent(gatewayA, 'job-1', { type: 'job_started', ownerId: 7 })).json['error']).toMatch(/^ownerId: /);
  });
});

describe('Socket.IO authentication', () => {
  let strict: NodeProcess;
  beforeAll(async () => {
    strict = await NodeProcess.start('gateway', { ...redis.env, JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, AUTH_REQUIRED: 'true', LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await strict?.stop('SIGKILL');
  });

  it.each([
    ['missing', undefined, 'Authentication required'],
    ['garbage', 'not.a.jwt', 'Authentication failed'],
    ['signed with the wrong key', jwt.sign({ sub: 'x' }, 'wrong-secret-wrong-secret-wrong-secret', { expiresIn: 60, issuer: ISSUER }), 'Authentication failed'],
    ['expired', jwt.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 120 }, SECRET, { issuer: ISSUER }), 'Authentication failed'],
    ['without expiry', jwt.sign({ sub: 'x' }, SECRET, { issuer: ISSUER }), 'Authentication failed'],
    ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', iss: ISSUER, exp: 9_999_999_999 })).toString('base64url')}.`, 'Authentication failed'],
    ['RS256 from an unknown key', jwt.sign({ sub: 'x' }, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { algorithm: 'RS256', expiresIn: 60, issuer: ISSUER }), 'Authentication failed'],
  ])('refuses a %s token with connect_error', async (_what, tokenValue, message) => {
    const auth = tokenValue === undefined ? {} : { token: tokenValue };
    expect(await IoClient.refusal(strict.url, { auth })).toBe(message);
  });

  it('accepts a valid token', async () => {
    const c = await connect(strict, { auth: { token: token('grace') } });
    expect(await c.ack('subscribe', 'job-1')).toEqual({ ok: true });
  });
});

describe('Socket.IO limits and metrics', () => {
  it('disconnects a socket that floods events', async () => {
    const c = await connect(gatewayA);
    const disconnected = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
    for (let i = 0; i < 200; i++) c.socket.emit('subscribe:service', 'flood');
    // A server-side disconnect: the client is told, and does not reconnect on its own.
    expect(await disconnected).toBe('io server disconnect');
  });

  it('counts Socket.IO connections per node', async () => {
    const before = metricValue(await gatewayB.metrics(), 'maicivy_websocket_connections{endpoint="socket.io"}') ?? 0;
    const c = await connect(gatewayB);
    await waitFor(async () => metricValue(await gatewayB.metrics(), 'maicivy_websocket_connections{endpoint="socket.io"}') === before + 1);
    c.close();
    await waitFor(async () => metricValue(await gatewayB.metrics(), 'maicivy_websocket_connections{endpoint="socket.io"}') === before);
    const text = await gatewayB.metrics();
    expect(metricValue(text, 'switchboard_socketio_broadcasts_received_total{kind="broadcast"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'switchboard_socketio_events_received_total{event="subscribe"}')).toBeGreaterThan(0);
  });
});

describe('through HAProxy with cookie stickiness (deploy/haproxy/haproxy.cfg)', () => {
  let proxy: Haproxy;
  beforeAll(async () => {
    proxy = await Haproxy.start(gatewayA.port, gatewayB.port);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('clients on default transports (long-polling first) land on both gateways and get cross-node broadcasts', async () => {
    const before = await Promise.all([gatewayA, gatewayB].map(async (g) => metricValue(await g.metrics(), 'maicivy_websocket_connections{endpoint="socket.io"}') ?? 0));
    // withCredentials: the Node client keeps cookies like a browser does, so stickiness applies.
    const viaProxy = await Promise.all(Array.from({ length: 6 }, () => connect(proxy, { withCredentials: true })));
    for (const c of viaProxy) expect(c.socket.io.engine.transport.name === 'polling' || c.socket.io.engine.transport.name === 'websocket').toBe(true);
    const after = await Promise.all([gatewayA, gatewayB].map(async (g) => metricValue(await g.metrics(), 'maicivy_websocket_connections{endpoint="socket.io"}') ?? 0));
    expect(after[0]! - before[0]!).toBeGreaterThanOrEqual(1);
    expect(after[1]! - before[1]!).toBeGreaterThanOrEqual(1);
    expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(6);

    for (const c of viaProxy) expect(await c.ack('subscribe:service', 'proxied')).toEqual({ ok: true });
    const sent = await report(gatewayA, { service: 'proxied', error: { message: 'through the proxy' }, level: 'error' });
    for (const c of viaProxy) {
      await c.next('error:service', (r) => r['id'] === sent.json['id'], 'the broadcast on every proxied client');
    }
    // The polling sessions upgraded to WebSocket through the proxy.
    await waitFor(() => viaProxy.every((c) => c.socket.io.engine.transport.name === 'websocket'), { what: 'upgrade to websocket' });
  });
});
