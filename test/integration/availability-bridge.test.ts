import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server.js';
import { CLI, NodeProcess, metricValue } from '../support/node-process.js';
import { freePort } from '../support/ports.js';
import { RabbitBroker, RABBITMQ_URL, uniqueName } from '../support/rabbitmq.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { INGEST_STREAM } from '@switchboard/protocol';
import { PRODUCER_KEY, post } from './helpers.js';
import { anyNumber, anyString } from '../support/matchers.js';

/**
 * `/ws/availability` on two gateways, fed by `POST /availability` and by a real RabbitMQ through
 * the bridge role: malformed messages, a dropped broker connection, an unreachable broker and a
 * Redis outage.
 */
const EXCHANGE = 'tour_booking_events';
const ROUTING_KEY = 'tour.availability.low';
const PING_INTERVAL = 1000;
const QUEUE = uniqueName('switchboard.test.availability');
const DEAD_EXCHANGE = uniqueName('switchboard.test.dead');
const DEAD_QUEUE = uniqueName('switchboard.test.dead-letters');
let redis: RedisServer;
let broker: RabbitBroker;
let gatewayA: NodeProcess;
let gatewayB: NodeProcess;
let worker: NodeProcess;
let bridge: NodeProcess;
const started: NodeProcess[] = [];
const clients: TestClient[] = [];
let env: Record<string, string>;

const event = (tourId: string, over: Record<string, unknown> = {}) => ({
  tourId,
  tourTitle: 'Randonnée Montagne',
  availableSeats: 3,
  maxGroupSize: 15,
  threshold: 3,
  ...over,
});

async function client(node: NodeProcess): Promise<TestClient> {
  const c = await TestClient.connect(node.wsUrl('/ws/availability'));
  clients.push(c);
  await c.next((f) => f.type === 'connection', { what: 'connection frame' });
  return c;
}

const eventFor = (c: TestClient, tourId: string, timeoutMs?: number): Promise<Frame> =>
  c.next((f) => f.type === 'tour.availability.low' && (f['data'] as { tourId: string }).tourId === tourId, {
    what: `event ${tourId}`,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

const toursOf = (c: TestClient): string[] =>
  c.of('tour.availability.low').map((f) => (f['data'] as { tourId: string }).tourId);

/** Ingest stream entries whose body names `tourId`. */
async function streamEntriesFor(tourId: string): Promise<number> {
  const admin = redis.client();
  try {
    const entries = await admin.xrange(INGEST_STREAM, '-', '+');
    return entries.filter(([, fields]) => fields.some((v) => v.includes(`"tourId":"${tourId}"`))).length;
  } finally {
    admin.disconnect();
  }
}

async function start(role: 'gateway' | 'worker' | 'bridge', extra: Record<string, string> = {}, waitReady = true): Promise<NodeProcess> {
  const node = await NodeProcess.start(role, { ...env, ...extra }, { waitReady });
  started.push(node);
  return node;
}

beforeAll(async () => {
  [redis, broker] = await Promise.all([RedisServer.start(), RabbitBroker.connect()]);
  // A dead-letter exchange for the bridge's queue, with a queue to look into.
  await broker.channel.assertExchange(DEAD_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
  await broker.channel.assertQueue(DEAD_QUEUE, { durable: false });
  await broker.channel.bindQueue(DEAD_QUEUE, DEAD_EXCHANGE, '');
  env = {
    REDIS_URL: redis.url,
    INGEST_API_KEYS: PRODUCER_KEY,
    AVAILABILITY_PING_INTERVAL_MS: String(PING_INTERVAL),
    RABBITMQ_URL,
    RABBITMQ_QUEUE: QUEUE,
    RABBITMQ_DEAD_LETTER_EXCHANGE: DEAD_EXCHANGE,
    LOG_LEVEL: 'warn',
  };
  [gatewayA, gatewayB, worker, bridge] = await Promise.all([start('gateway'), start('gateway'), start('worker'), start('bridge')]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(started.map((n) => n.stop('SIGKILL')));
  await redis?.stop();
  if (broker) {
    await broker.channel.deleteQueue(QUEUE).catch(() => undefined);
    await broker.channel.deleteQueue(DEAD_QUEUE).catch(() => undefined);
    await broker.channel.deleteExchange(DEAD_EXCHANGE).catch(() => undefined);
    await broker.close();
  }
});

describe('/ws/availability', () => {
  it('greets each client with a fresh clientId, and /health counts the clients', async () => {
    const before = (await gatewayA.json<{ connectedClients: number }>('/health')).connectedClients;
    const [a1, a2] = [await client(gatewayA), await client(gatewayA)];
    const [g1, g2] = [a1.of('connection')[0]!, a2.of('connection')[0]!];
    for (const greeting of [g1, g2]) {
      // The original fields, then the channel position a reconnect resumes from.
      expect(Object.keys(greeting)).toEqual(['type', 'clientId', 'message', 'timestamp', 'epoch', 'offset']);
      expect(greeting).toMatchObject({ epoch: anyString, offset: anyNumber });
      expect(greeting['clientId']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(greeting['message']).toBe('Connecté au serveur WebSocket - Disponibilités en temps réel');
      expect(Date.parse(greeting['timestamp'] as string)).not.toBeNaN();
    }
    expect(g1['clientId']).not.toBe(g2['clientId']);
    expect((await gatewayA.json<{ connectedClients: number }>('/health')).connectedClients).toBe(before + 2);
    a2.close();
    await waitFor(async () => (await gatewayA.json<{ connectedClients: number }>('/health')).connectedClients === before + 1, {
      what: 'the closed client uncounted',
    });
    expect(metricValue(await gatewayA.metrics(), 'maicivy_websocket_connections{endpoint="availability"}')).toBe(before + 1);
  });

  it('broadcasts POST /availability to the clients of every gateway', async () => {
    const [onA, onB] = [await client(gatewayA), await client(gatewayB)];
    const res = await post(gatewayB.url, '/availability', event('http-1', { source: 'catalog' }));
    expect(res.status).toBe(202);
    for (const c of [onA, onB]) {
      const frame = await eventFor(c, 'http-1');
      expect(Object.keys(frame)).toEqual(['type', 'id', 'data', 'timestamp', 'offset']);
      expect(frame['id']).toBe(res.json['id']);
      expect(frame['data']).toEqual(event('http-1', { source: 'catalog' }));
      expect(Date.parse(frame['timestamp'] as string)).not.toBeNaN();
    }
  });

  it.each([
    [{ ...event('x'), availableSeats: 'three' }, 'availableSeats: expected an integer'],
    [{ tourId: 'x' }, 'tourTitle: expected a non-empty string'],
    [[event('x')], 'body: expected a JSON object'],
  ])('answers 400 naming the field for %j', async (body, error) => {
    expect(await post(gatewayA.url, '/availability', body)).toEqual({ status: 400, json: { error } });
  });

  it(`pings every client each AVAILABILITY_PING_INTERVAL_MS (${PING_INTERVAL} ms) and answers a client's ping`, async () => {
    const c = await client(gatewayB);
    const first = await c.next((f) => f.type === 'ping', { what: 'a server ping' });
    const second = await c.next((f) => f.type === 'ping' && f['timestamp'] !== first['timestamp'], { what: 'the next ping' });
    const gap = Date.parse(second['timestamp'] as string) - Date.parse(first['timestamp'] as string);
    expect(gap).toBeGreaterThanOrEqual(PING_INTERVAL / 2);
    expect(Object.keys(first)).toEqual(['type', 'timestamp']);
    const mark = c.frames.length;
    c.send({ type: 'ping' });
    const pong = await c.next((f) => f.type === 'pong', { from: mark });
    expect(Object.keys(pong)).toEqual(['type', 'timestamp']);
    c.send({ type: 'subscribe' });
    expect((await c.next((f) => f.type === 'error', { from: mark }))['message']).toMatch(/unknown message type/);
  });
});

describe('the RabbitMQ bridge', () => {
  it('forwards a message published on tour_booking_events to the clients of every gateway', async () => {
    const [onA, onB] = [await client(gatewayA), await client(gatewayB)];
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('amqp-1')));
    for (const c of [onA, onB]) expect((await eventFor(c, 'amqp-1'))['data']).toEqual(event('amqp-1'));
    // Other routing keys on the exchange are not for us.
    broker.publish(EXCHANGE, 'tour.booking.created', JSON.stringify(event('not-ours')));
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('amqp-2')));
    await eventFor(onA, 'amqp-2');
    expect(toursOf(onA)).not.toContain('not-ours');
    expect(metricValue(await worker.metrics(), 'switchboard_worker_events_processed_total{kind="availability"}')).toBeGreaterThanOrEqual(3);
  });

  it('forwards a message once per messageId: a second copy is acknowledged without a second entry', async () => {
    const c = await client(gatewayA);
    const duplicatesBefore = metricValue(await bridge.metrics(), 'switchboard_bridge_duplicates_total') ?? 0;
    const messageId = uniqueName('tour-alert');
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('dedupe-1')), { messageId });
    const first = await eventFor(c, 'dedupe-1');
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('dedupe-1', { availableSeats: 2 })), { messageId });
    await waitFor(
      async () => metricValue(await bridge.metrics(), 'switchboard_bridge_duplicates_total') === duplicatesBefore + 1,
      { what: 'the copy counted as a duplicate' },
    );
    await waitFor(async () => (await broker.queueCounts(QUEUE))?.unacked === 0, { what: 'the copy acknowledged' });
    // A later message arrives after anything the copy could have caused.
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('after-dedupe')));
    await eventFor(c, 'after-dedupe');
    expect(toursOf(c).filter((t) => t === 'dedupe-1')).toHaveLength(1);
    expect(first['data']).toEqual(event('dedupe-1'));
    expect(await streamEntriesFor('dedupe-1')).toBe(1);
  });

  it('forwards every copy of a message without a messageId (at-least-once, as before)', async () => {
    const c = await client(gatewayB);
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('no-id')));
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('no-id')));
    await waitFor(() => toursOf(c).filter((t) => t === 'no-id').length === 2, { what: 'both copies delivered' });
    const ids = c.of('tour.availability.low').filter((f) => (f['data'] as { tourId: string }).tourId === 'no-id').map((f) => f['id']);
    expect(new Set(ids).size).toBe(2);
    expect(await streamEntriesFor('no-id')).toBe(2);
  });

  it('rejects malformed messages to the dead-letter exchange and keeps forwarding', async () => {
    const c = await client(gatewayB);
    broker.publish(EXCHANGE, ROUTING_KEY, 'not json at all');
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify({ tourId: 'half' }));
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('after-bad')));
    await eventFor(c, 'after-bad');
    const dead = await waitFor(
      async () => {
        const bodies: string[] = [];
        for (let m = await broker.channel.get(DEAD_QUEUE, { noAck: true }); m !== false; m = await broker.channel.get(DEAD_QUEUE, { noAck: true })) {
          bodies.push(m.content.toString());
        }
        return bodies.length > 0 ? bodies : undefined;
      },
      { what: 'the dead letters' },
    );
    expect(dead).toEqual(['not json at all', '{"tourId":"half"}']);
    const metrics = await bridge.metrics();
    expect(metricValue(metrics, 'switchboard_bridge_messages_total{outcome="rejected"}')).toBe(2);
    expect(metricValue(metrics, 'switchboard_bridge_messages_total{outcome="forwarded"}')).toBeGreaterThanOrEqual(3);
    expect(bridge.child.exitCode).toBeNull();
    expect(toursOf(c)).toEqual(['after-bad']);
  });

  it('reconnects after its connection is dropped and delivers what was published meanwhile', async () => {
    const c = await client(gatewayA);
    const name = `switchboard-bridge-${bridge.nodeId}`;
    const before = await broker.connectionPids(name);
    expect(before).toHaveLength(1);
    expect(await broker.dropConnections(name)).toBe(1);
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('while-dropped')));
    await eventFor(c, 'while-dropped');
    const after = await waitFor(async () => {
      const pids = await broker.connectionPids(name);
      return pids.length === 1 ? pids : undefined;
    });
    expect(after[0]).not.toBe(before[0]);
    expect(metricValue(await bridge.metrics(), 'switchboard_bridge_reconnect_attempts_total')).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await fetch(`${bridge.url}/readyz`)).status === 200, { what: 'the bridge ready again' });
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('after-reconnect')));
    await eventFor(c, 'after-reconnect');
  });

  it('reports not ready while the broker is unreachable, and keeps retrying', async () => {
    const port = await freePort();
    const lonely = await start('bridge', { RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${port}`, RABBITMQ_QUEUE: uniqueName('unused') }, false);
    await waitFor(async () => (await fetch(`${lonely.url}/health`)).status === 200, { what: 'the lonely bridge up' });
    const ready = await fetch(`${lonely.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, draining: false, rabbitmq: 'down', redis: 'up' });
    expect(await lonely.json('/health')).toMatchObject({ status: 'ok', service: 'bridge', rabbitmq: 'down', redis: 'up' });
    await waitFor(async () => (metricValue(await lonely.metrics(), 'switchboard_bridge_reconnect_attempts_total') ?? 0) >= 3, {
      what: 'repeated attempts',
    });
    expect(lonely.child.exitCode).toBeNull();
  });

  it('holds a message while Redis is down and forwards it once Redis is back', async () => {
    const c = await client(gatewayB);
    // Pub/sub is at-most-once (docs/architecture.md#libraries-and-their-pitfalls): a worker publishing before the gateways have
    // resubscribed would lose the frame. So no worker runs until they have: the entry waits in
    // the stream, which is what this test is about.
    await worker.stop('SIGKILL');
    await redis.kill();
    await waitFor(async () => (await fetch(`${bridge.url}/readyz`)).status === 503, { what: 'the bridge not ready' });
    expect(await bridge.json('/health')).toMatchObject({ rabbitmq: 'up', redis: 'down' });
    broker.publish(EXCHANGE, ROUTING_KEY, JSON.stringify(event('during-outage')));
    await waitFor(async () => (metricValue(await bridge.metrics(), 'switchboard_bridge_forward_retries_total') ?? 0) >= 1, {
      what: 'the bridge retrying',
    });
    // Held, not acknowledged, while the ingest cannot store it.
    expect(await broker.queueCounts(QUEUE)).toEqual({ ready: 0, unacked: 1 });
    const forwardedBefore = metricValue(await bridge.metrics(), 'switchboard_bridge_messages_total{outcome="forwarded"}') ?? 0;
    await redis.restart();
    for (const node of [bridge, gatewayA, gatewayB]) {
      await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200, { what: `${node.nodeId} ready again` });
    }
    // Forwarded into the (new, empty) Redis, then acknowledged: nothing left in the queue.
    await waitFor(
      async () => metricValue(await bridge.metrics(), 'switchboard_bridge_messages_total{outcome="forwarded"}') === forwardedBefore + 1,
      { what: 'the held message forwarded' },
    );
    await waitFor(async () => (await broker.queueCounts(QUEUE))?.unacked === 0, { what: 'the message acknowledged' });
    expect(await broker.queueCounts(QUEUE)).toEqual({ ready: 0, unacked: 0 });
    // Redis came back empty: the channel's epoch changed, so no node can vouch for what its
    // clients missed. They are closed with 1012; a reconnect that resumes is told so.
    expect((await c.waitClosed()).code).toBe(1012);
    const greeting = c.of('connection')[0]!;
    const again = await TestClient.connect(gatewayB.wsUrl(`/ws/availability?epoch=${greeting['epoch'] as string}&since=${greeting['offset'] as number}`));
    clients.push(again);
    const resumed = await again.next((f) => f.type === 'resumed', { what: 'the resume answer' });
    expect(resumed).toMatchObject({ recovered: false, epoch: again.of('connection')[0]!['epoch'] });
    expect(resumed['epoch']).not.toBe(greeting['epoch']);
    worker = await start('worker');
    await eventFor(again, 'during-outage');
    expect(toursOf(again).filter((t) => t === 'during-outage')).toHaveLength(1);
  });

  it('refuses to start the bridge role without RABBITMQ_URL', async () => {
    const child = spawn(process.execPath, [CLI, 'bridge'], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: redis.url },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(78);
    expect(stderr.trim()).toBe('switchboard: invalid configuration: RABBITMQ_URL: required for the bridge role');
  });
});
