import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RedisServer } from '../support/redis-server.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { TestClient } from '../support/ws-client.js';
import { IoClient } from '../support/socketio-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post, rawHttp } from './helpers.js';

/** Bad input gets a clear answer and loses nothing; nothing a client sends crashes a node. */
let redis: RedisServer;
let gateway: NodeProcess;
let worker: NodeProcess;
const clients: TestClient[] = [];
const PAYLOAD_LIMIT = 4096;
const RATE = 20;

async function connect(): Promise<TestClient> {
  const c = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
  clients.push(c);
  await c.next((f) => f.type === 'initial_stats');
  return c;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  const env = {
    REDIS_URL: redis.url,
    INGEST_API_KEYS: PRODUCER_KEY,
    MAX_BODY_BYTES: '8192',
    WS_MAX_PAYLOAD_BYTES: String(PAYLOAD_LIMIT),
    WS_RATE_LIMIT_PER_S: String(RATE),
    ALLOWED_ORIGINS: 'https://app.example.com',
    JWT_SECRET: 'integration-test-secret-integration-test',
    HEARTBEAT_INTERVAL_MS: '1000',
    LOG_LEVEL: 'warn',
  };
  [gateway, worker] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([gateway, worker].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

describe('HTTP ingest input', () => {
  it.each([
    [{ visitor_id: 'v' }, 'type: expected a non-empty string'],
    [{ type: '', visitor_id: 'v' }, 'type: expected a non-empty string'],
    [{ type: 'page_view' }, 'visitor_id: expected a non-empty string'],
    [{ type: 'page_view', visitor_id: 42 }, 'visitor_id: expected a non-empty string'],
    [{ type: 'page view!', visitor_id: 'v' }, "type: expected letters, digits, '_', '-', '.' or ':'"],
    [{ type: 'page_view', visitor_id: 'v', data: [1, 2] }, 'data: expected an object'],
    [{ type: 'page_view', visitor_id: 'v', timestamp: 'yesterday' }, 'timestamp: expected an ISO-8601 date or unix milliseconds'],
    [[1, 2, 3], 'body: expected a JSON object'],
    ['{"type": "page_view",', 'body: invalid JSON'],
  ])('answers 400 naming the field for %j', async (body, error) => {
    const res = await post(gateway.url, '/events', body);
    expect(res).toEqual({ status: 400, json: { error } });
  });

  it('answers 413 over MAX_BODY_BYTES, declared or streamed', async () => {
    const big = { type: 'page_view', visitor_id: 'v', data: { blob: 'x'.repeat(10_000) } };
    const res = await post(gateway.url, '/events', big);
    expect(res.status).toBe(413);
    expect(res.json['error']).toMatch(/MAX_BODY_BYTES/);
    // Chunked upload without Content-Length: the limit holds while streaming.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        controller.close();
      },
    });
    const chunked = await fetch(`${gateway.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PRODUCER_KEY}` },
      body: stream,
      duplex: 'half',
    } as RequestInit).catch((err: unknown) => err);
    // The server answers 413 and closes; depending on timing the client sees the answer or the reset.
    if (chunked instanceof Response) expect(chunked.status).toBe(413);
    expect((await fetch(`${gateway.url}/livez`)).status).toBe(200);
  });

  it('requires a producer credential when INGEST_API_KEYS is set', async () => {
    const body = { type: 'page_view', visitor_id: 'v' };
    expect((await post(gateway.url, '/events', body, {})).status).toBe(401);
    expect((await post(gateway.url, '/events', body, { authorization: 'Bearer wrong-key' })).status).toBe(403);
    expect((await post(gateway.url, '/events', body, { 'x-api-key': PRODUCER_KEY })).status).toBe(202);
  });

  it('refuses non-JSON content types and wrong methods', async () => {
    const res = await fetch(`${gateway.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${PRODUCER_KEY}` },
      body: 'a=1',
    });
    expect(res.status).toBe(415);
    const wrongMethod = await fetch(`${gateway.url}/events`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await fetch(`${gateway.url}/nope`)).status).toBe(404);
  });

  it('answers HEAD like GET, headers only: probes, the dashboard, and the 404/405 answers', async () => {
    for (const [path, status] of [['/livez', 200], ['/readyz', 200], ['/health', 200], ['/metrics', 200], ['/', 200], ['/nope', 404], ['/events', 405]] as const) {
      const raw = await rawHttp(gateway.port, `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      expect(head.split('\r\n')[0], path).toBe(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : status === 404 ? 'Not Found' : 'Method Not Allowed'}`);
      expect(body, `HEAD ${path} sent a body`).toBe('');
      // The length announced is the one GET sends.
      const announced = Number(/content-length: (\d+)/i.exec(head)?.[1]);
      expect(announced, path).toBeGreaterThan(0);
    }
    const get = await fetch(`${gateway.url}/livez`);
    const head = await rawHttp(gateway.port, 'HEAD /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(Number(/content-length: (\d+)/i.exec(head)?.[1])).toBe((await get.text()).length);
  });

  it('keeps valid events flowing after all of the above, extra fields kept in data', async () => {
    const c = await connect();
    const res = await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'after-bad', referrer: 'x', data: { a: 1 } });
    expect(res.status).toBe(202);
    const event = await c.next((f) => f['visitor_id'] === 'after-bad');
    expect(event['data']).toEqual({ referrer: 'x', a: 1 });
    expect(event['id']).toBe(res.json['id']);
  });
});

describe('WebSocket input', () => {
  it('answers invalid JSON, unknown and malformed messages with an error and keeps the connection', async () => {
    const c = await connect();
    const cases: [unknown, RegExp][] = [
      ['not json', /^invalid JSON$/],
      [{ type: 'launch_missiles' }, /unknown message type/],
      [{ no: 'type' }, /unknown message type/],
      [{ type: 'subscribe', events: 'page_view' }, /^events: expected an array of event types$/],
      [{ type: 'subscribe', events: [42] }, /^events\.0: expected an event type or "\*"$/],
    ];
    for (const [message, pattern] of cases) {
      const mark = c.frames.length;
      c.send(message);
      const error = await c.next((f) => f.type === 'error', { from: mark });
      expect(error['message']).toMatch(pattern);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.next((f) => f.type === 'error' && /binary/.test(String(f['message']))))['message']).toMatch(/binary/);
    const mark = c.frames.length;
    c.send({ type: 'ping' });
    const pong = await c.next((f) => f.type === 'pong', { from: mark });
    expect(Date.parse(pong['timestamp'] as string)).not.toBeNaN();
    expect(c.closed).toBeUndefined();
  });

  it('closes with 1009 on a frame over the payload limit', async () => {
    const c = await connect();
    c.send('x'.repeat(PAYLOAD_LIMIT + 1));
    expect((await c.waitClosed()).code).toBe(1009);
  });

  it('rate-limits a flooding client: one notice, then a 1008 close', async () => {
    const c = await connect();
    for (let i = 0; i < RATE * 8; i++) c.send({ type: 'ping' });
    const closed = await c.waitClosed();
    expect(closed.code).toBe(1008);
    expect(c.of('error').filter((f) => /rate limit/.test(String(f['message'])))).toHaveLength(1);
    expect(c.of('pong').length).toBeLessThanOrEqual(RATE);
  });

  it('filters events per client with subscribe; heartbeats unaffected', async () => {
    const c = await connect();
    c.send({ type: 'subscribe', events: ['letter_generated'] });
    const subscribedAt = c.frames.length;
    await c.next((f) => f.type === 'subscribed');
    await c.next((f) => f.type === 'heartbeat', { from: subscribedAt, what: 'a heartbeat despite the filter' });
    await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'filtered-out' });
    await post(gateway.url, '/events', { type: 'letter_generated', visitor_id: 'filtered-in' });
    await c.next((f) => f['visitor_id'] === 'filtered-in');
    const other = await connect();
    await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'marker' });
    await other.next((f) => f['visitor_id'] === 'marker');
    expect(c.frames.some((f) => f.frame['visitor_id'] === 'filtered-out' || f.frame['visitor_id'] === 'marker')).toBe(false);
    c.send({ type: 'subscribe', events: ['*'] });
    await c.next((f) => f.type === 'subscribed' && (f['events'] as string[])[0] === '*');
    await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'all-again' });
    await c.next((f) => f['visitor_id'] === 'all-again');
  });

  it('negotiates permessage-deflate when the client offers it', async () => {
    const c = await TestClient.connect(gateway.wsUrl('/ws/analytics'), { perMessageDeflate: true });
    clients.push(c);
    expect(c.ws.extensions).toContain('permessage-deflate');
    await c.next((f) => f.type === 'initial_stats');
    const plain = await TestClient.connect(gateway.wsUrl('/ws/analytics'), { perMessageDeflate: false });
    clients.push(plain);
    expect(plain.ws.extensions).toBe('');
  });

  it('checks origins and tokens at the upgrade', async () => {
    const url = gateway.wsUrl('/ws/analytics');
    expect((await TestClient.refusal(url, { origin: 'https://evil.example' })).status).toBe(403);
    const allowed = await TestClient.connect(url, { origin: 'https://app.example.com' });
    clients.push(allowed);
    const refused = await TestClient.refusal(`${url}?token=garbage`);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toEqual({ error: 'Authentication failed' });
  });

  it('survived all of it: the node is healthy and counted the errors', async () => {
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const text = await gateway.metrics();
    expect(metricValue(text, 'switchboard_ws_client_errors_total{endpoint="analytics",reason="invalid_json"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'switchboard_ws_client_errors_total{endpoint="analytics",reason="flood"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="origin"}')).toBe(1);
    await waitFor(() => gateway.child.exitCode === null);
  });
});

describe('raw WebSocket abuse', () => {
  it('survives a client that disconnects mid-handshake and mid-frame', async () => {
    const clientsNow = async () => (await gateway.json<{ connectedClients: number }>('/health')).connectedClients;
    const ws = new WebSocket(gateway.wsUrl('/ws/analytics'));
    ws.on('error', () => undefined);
    ws.terminate();
    const before = await clientsNow();
    const c = await connect();
    expect(await clientsNow()).toBe(before + 1);
    // Half a frame, then the socket is destroyed.
    (c.ws as unknown as { _socket: { write(b: Buffer): void; destroy(): void } })._socket.write(Buffer.from([0x81, 0xfe, 0x10]));
    (c.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    await waitFor(async () => (await clientsNow()) === before, { what: 'the destroyed connection released' });
    expect((await fetch(`${gateway.url}/livez`)).status).toBe(200);
  });
});

describe('Socket.IO origins (ALLOWED_ORIGINS) for polling and websocket', () => {
  it('refuses a foreign origin on both transports and allows the listed one, with CORS headers', async () => {
    for (const transports of [['polling'], ['websocket']] as const) {
      const message = await IoClient.refusal(gateway.url, { transports: [...transports], extraHeaders: { origin: 'https://evil.example' } });
      expect(message.length).toBeGreaterThan(0);
      const allowed = await IoClient.connect(gateway.url, { transports: [...transports], extraHeaders: { origin: 'https://app.example.com' } });
      expect(allowed.socket.connected).toBe(true);
      allowed.close();
    }
    const handshake = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://app.example.com' } });
    expect(handshake.status).toBe(200);
    expect(handshake.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(handshake.headers.get('access-control-allow-credentials')).toBe('true');
    const foreign = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const text = await gateway.metrics();
    expect(metricValue(text, 'switchboard_socketio_errors_total{reason="origin"}')).toBeGreaterThanOrEqual(3);
  });

  /** A Socket.IO WebSocket handshake (no polling first): its status and the answer's headers. */
  const upgrade = (origin: string) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
      const ws = new WebSocket(`${gateway.wsUrl('/socket.io/')}?EIO=4&transport=websocket`, { origin });
      ws.once('upgrade', (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
        ws.terminate();
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    });

  it('checks the Origin of WebSocket handshakes without running CORS on them, and answers polling with CORS headers', async () => {
    const refusedBefore = metricValue(await gateway.metrics(), 'switchboard_socketio_errors_total{reason="origin"}') ?? 0;
    const forbidden = await upgrade('https://evil.example');
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers['access-control-allow-origin']).toBeUndefined();
    expect(metricValue(await gateway.metrics(), 'switchboard_socketio_errors_total{reason="origin"}')).toBe(refusedBefore + 1);
    // An allowed WebSocket handshake: no CORS headers (browsers apply none to WebSockets).
    const allowed = await upgrade('https://app.example.com');
    expect(allowed.status).toBe(101);
    expect(allowed.headers['access-control-allow-origin']).toBeUndefined();
    expect(allowed.headers['vary']).toBeUndefined();

    // Polling: the preflight, the handshake and a request of the session all carry them.
    const origin = 'https://app.example.com';
    const preflight = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization');
    const handshake = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
    expect(handshake.status).toBe(200);
    expect(handshake.headers.get('vary')).toContain('Origin');
    const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string };
    const connect = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', headers: { origin, 'content-type': 'text/plain' }, body: '40' });
    expect(connect.status).toBe(200);
    expect(connect.headers.get('access-control-allow-origin')).toBe(origin);
    expect(connect.headers.get('access-control-allow-credentials')).toBe('true');
    // A case variant of a listed origin is the same origin (as on the raw endpoints).
    const upper = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'HTTPS://APP.EXAMPLE.COM' } });
    expect(upper.status).toBe(200);
    expect(upper.headers.get('access-control-allow-origin')).toBe('HTTPS://APP.EXAMPLE.COM');
  });
});
