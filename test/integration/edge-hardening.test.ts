import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_MAX_DEPTH } from '@switchboard/protocol';
import { CLI, NodeProcess, metricValue } from '../support/node-process.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis-server.js';
import { IoClient } from '../support/socketio-client.js';
import { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * Issue 8 at the edge: deep JSON, per-address limits, the 413 a fetch() client can read, a taken
 * port and an unreachable Redis, each against real `switchboard` processes.
 */
const started: NodeProcess[] = [];
const clients: { close(): void }[] = [];

async function start(env: Record<string, string>): Promise<NodeProcess> {
  const node = await NodeProcess.start('all', { LOG_LEVEL: 'warn', INGEST_API_KEYS: PRODUCER_KEY, ...env });
  started.push(node);
  return node;
}

async function raw(node: NodeProcess, path: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(node.wsUrl(path), { headers });
  clients.push(client);
  return client;
}

async function socketIo(node: NodeProcess, headers: Record<string, string> = {}): Promise<IoClient> {
  const client = await IoClient.connect(node.url, { transports: ['websocket'], extraHeaders: headers });
  clients.push({ close: () => client.socket.close() });
  return client;
}

/** A Socket.IO (engine.io) polling handshake, as a browser starts one. */
const socketIoHandshake = (node: NodeProcess, headers: Record<string, string> = {}) =>
  fetch(`${node.url}/socket.io/?EIO=4&transport=polling`, { headers });

/** Runs the CLI to its end (or kills it after `timeoutMs`), keeping stderr. */
function runCli(role: string, env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, role], { env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(started.map((n) => n.stop('SIGKILL')));
});

describe('invalid UTF-8 in a text frame', () => {
  it('closes only that connection (1006: uWS drops it without a close frame), and the gateway serves on', async () => {
    const node = await start({});
    const bystander = await raw(node, '/ws/analytics');
    await bystander.next((f) => f.type === 'initial_stats');
    const offender = await raw(node, '/ws/analytics');
    await offender.next((f) => f.type === 'initial_stats');
    // A text frame whose bytes are not UTF-8 (ws sends a Buffer as text without checking it).
    offender.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    await waitFor(() => offender.closed !== undefined, { what: 'the offending connection closed' });
    // 1007 is what RFC 6455 asks for; this uWS build closes the TCP connection itself (docs/departures.md).
    expect(offender.closed?.code).toBe(1006);
    expect((await fetch(`${node.url}/livez`)).status).toBe(200);
    const from = bystander.frames.length;
    bystander.send({ type: 'ping' });
    await bystander.next((f) => f.type === 'pong', { from });
    expect(bystander.closed).toBeUndefined();
  });
});

describe('JSON nesting depth', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await start({});
  });

  const deep = (levels: number) => `{"type":"page_view","visitor_id":"v","data":{"x":${'['.repeat(levels)}${']'.repeat(levels)}}}`;

  it.each(['/events', '/report', '/logs', '/availability'])('answers 400 naming the limit on %s, never 503 (a producer would retry forever)', async (path) => {
    const res = await post(node.url, path, deep(6_000));
    expect(res.status).toBe(400);
    expect(String((res.json as { error?: unknown }).error)).toMatch(new RegExp(`: nested deeper than ${JSON_MAX_DEPTH} levels$`));
  });

  it('words the /report error rule as it is applied: message and stack are optional', async () => {
    const report = { service: 'shop', level: 'error' };
    expect(await post(node.url, '/report', { ...report, error: 'boom' })).toEqual({ status: 400, json: { error: 'error: expected an object, with optional message and stack strings' } });
    expect((await post(node.url, '/report', { ...report, error: {} })).status).toBe(202);
  });

  it('accepts nesting within the limit', async () => {
    expect((await post(node.url, '/events', deep(JSON_MAX_DEPTH - 3))).status).toBe(202);
  });

  it('answers a deep WebSocket message with an error frame naming the limit, and keeps the connection', async () => {
    const client = await raw(node, '/ws/analytics');
    await client.next((f) => f.type === 'initial_stats');
    client.send(`{"type":"subscribe","events":${'['.repeat(6_000)}${']'.repeat(6_000)}}`);
    const error = await client.next((f) => f.type === 'error');
    expect(error['message']).toBe(`events.0: nested deeper than ${JSON_MAX_DEPTH} levels`);
    const from = client.frames.length;
    client.send({ type: 'ping' });
    await client.next((f) => f.type === 'pong', { from });
    expect(client.closed).toBeUndefined();
    expect(metricValue(await node.metrics(), 'switchboard_ws_client_errors_total{endpoint="analytics",reason="invalid_message"}')).toBe(1);
  });
});

describe('per-address limits', () => {
  let node: NodeProcess;
  let proxied: NodeProcess;
  let rated: NodeProcess;
  const CAP = 3;

  beforeAll(async () => {
    // Behind a trusted proxy (the tests' own 127.0.0.1), X-Forwarded-For names the client.
    const trusted = { TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8' };
    [node, proxied, rated] = await Promise.all([
      start({ MAX_CONNECTIONS_PER_ADDRESS: String(CAP), UPGRADE_RATE_PER_ADDRESS: '0' }),
      start({ MAX_CONNECTIONS_PER_ADDRESS: '2', UPGRADE_RATE_PER_ADDRESS: '0', ...trusted }),
      // The plain rate, without the burst that UPGRADE_BURST_PER_ADDRESS allows by default.
      start({ MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '2', UPGRADE_BURST_PER_ADDRESS: '0', ...trusted }),
    ]);
  });

  it('caps one address across raw endpoints and Socket.IO with a 429, and admits again once one leaves', async () => {
    const held = [await raw(node, '/ws/analytics'), await raw(node, '/ws/availability'), await socketIo(node)];
    expect(held).toHaveLength(CAP);
    for (const path of ['/ws/analytics', '/ws/logs']) {
      const refused = await TestClient.refusal(node.wsUrl(path));
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toEqual({ error: `too many connections from your address: at most ${CAP} (MAX_CONNECTIONS_PER_ADDRESS)` });
    }
    const handshake = await socketIoHandshake(node);
    expect(handshake.status).toBe(429);
    expect(await handshake.json()).toEqual({ error: `too many connections from your address: at most ${CAP} (MAX_CONNECTIONS_PER_ADDRESS)` });
    // X-Forwarded-For from an untrusted peer is ignored: it cannot buy a fresh allowance.
    expect((await TestClient.refusal(node.wsUrl('/ws/analytics'), { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(429);

    held[0]?.close();
    await waitFor(async () => (await node.json('/health'))['connectedClients'] === CAP - 1, { what: 'one connection gone' });
    await raw(node, '/ws/analytics');
    const metrics = await node.metrics();
    expect(metricValue(metrics, 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="per_address"}')).toBe(2);
    expect(metricValue(metrics, 'switchboard_ws_upgrades_refused_total{endpoint="logs",reason="per_address"}')).toBe(1);
    expect(metricValue(metrics, 'switchboard_ws_upgrades_refused_total{endpoint="socket.io",reason="per_address"}')).toBe(1);
  });

  it('holds the cap exactly under a burst of simultaneous upgrades', async () => {
    for (const c of clients.splice(0)) c.close();
    await waitFor(async () => (await node.json('/health'))['connectedClients'] === 0, { what: 'all connections gone' });
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, () => raw(node, '/ws/availability')));
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(CAP);
    expect(attempts.filter((a) => a.status === 'rejected').every((a) => String(a.reason).includes('429'))).toBe(true);
  });

  it('behind a trusted proxy, counts each forwarded client on its own', async () => {
    const behind = (client: string) => ({ 'x-forwarded-for': `${client}, 10.1.2.3` });
    await raw(proxied, '/ws/analytics', behind('203.0.113.1'));
    await raw(proxied, '/ws/analytics', behind('203.0.113.1'));
    expect((await TestClient.refusal(proxied.wsUrl('/ws/analytics'), { headers: behind('203.0.113.1') })).status).toBe(429);
    // Another client behind the same proxy has its own allowance.
    await raw(proxied, '/ws/availability', behind('203.0.113.2'));
    await socketIo(proxied, behind('203.0.113.2'));
    expect(metricValue(await proxied.metrics(), 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="per_address"}')).toBe(1);
  });

  it('limits the upgrade rate per address with a 429 and Retry-After, raw and Socket.IO alike', async () => {
    /** A raw upgrade request, so every answer's status, Retry-After and body can be read. */
    const attempt = (client: string) =>
      new Promise<{ status: number; retryAfter: string | null; body: string }>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: rated.port }, () =>
        socket.write(
          `GET /ws/analytics HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: ${client}\r\n\r\n`,
        ),
      );
      let text = '';
      const answer = () => {
        const head = text.split('\r\n\r\n')[0] ?? '';
        resolve({ status: Number(head.split(' ')[1]), retryAfter: /\r\nretry-after: (\d+)/i.exec(head)?.[1] ?? null, body: text.slice(head.length + 4) });
      };
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        // A refusal closes the connection; an accepted upgrade stays open.
        if (text.startsWith('HTTP/1.1 101')) socket.destroy();
      });
      socket.once('close', answer);
      });
    const answers = await Promise.all(Array.from({ length: 8 }, () => attempt('198.51.100.7')));
    const limited = answers.filter((a) => a.status === 429 && a.body.includes('at most 2 per second'));
    expect(limited.length).toBeGreaterThanOrEqual(2);
    for (const a of limited) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    // Socket.IO handshakes share the allowance.
    const handshakes = await Promise.all(Array.from({ length: 6 }, () => socketIoHandshake(rated, { 'x-forwarded-for': '198.51.100.8' })));
    expect(handshakes.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(2);
    const metrics = await rated.metrics();
    expect(metricValue(metrics, 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="rate_limited"}')).toBe(limited.length);
    expect(metricValue(metrics, 'switchboard_ws_upgrades_refused_total{endpoint="socket.io",reason="rate_limited"}')).toBeGreaterThanOrEqual(2);
  });
});

describe('a body over MAX_BODY_BYTES', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await start({});
  });

  const fiveMiB = () => new Uint8Array(5 * 1024 * 1024).fill(0x20);

  it('reaches a fetch() client as a 413 with its JSON error, not EPIPE', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${node.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PRODUCER_KEY}` }, body: fiveMiB() });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ error: 'body: larger than MAX_BODY_BYTES (1048576 bytes)' });
    }
  });

  it('lets a fetch() client read the other refusals sent before the body is read', async () => {
    const res = await fetch(`${node.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-key' }, body: fiveMiB() });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: 'producer credential not accepted' });
  });

  it('refuses an over-limit Content-Length with Expect: 100-continue at once, without waiting for a body', async () => {
    const startedAt = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = tcpConnect({ host: '127.0.0.1', port: node.port }, () =>
        socket.write(
          `POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${PRODUCER_KEY}\r\n` +
            `Content-Length: ${5 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
        ),
      );
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.once('error', reject);
      socket.once('close', () => resolve(text));
    });
    // Closed without a byte of body sent, well before the lingering bound (30 s).
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(answer).toContain('HTTP/1.1 413 Payload Too Large\r\n');
    expect(answer).toContain('{"error":"body: larger than MAX_BODY_BYTES (1048576 bytes)"}');
  });

  it('still serves after all of it', async () => {
    expect((await post(node.url, '/events', { type: 'page_view', visitor_id: 'after' })).status).toBe(202);
  });
});

describe('start-up refusals', () => {
  it('refuses a port another instance holds, with one line, unless both share it deliberately', async () => {
    const port = await freePort();
    const first = await start({ PORT: String(port) });
    const second = await runCli('all', { PORT: String(port) });
    expect(second.code).not.toBe(0);
    expect(second.stderr.trim()).toBe(`switchboard: port ${port} is already in use (set PORT, or REUSE_PORT=true to share it deliberately)`);
    expect((await post(first.url, '/events', { type: 'page_view', visitor_id: 'still-here' })).status).toBe(202);

    const sharedPort = await freePort();
    await start({ PORT: String(sharedPort), REUSE_PORT: 'true' });
    const sharing = await start({ PORT: String(sharedPort), REUSE_PORT: 'true' });
    expect(sharing.child.exitCode).toBeNull();
  });

  it.each(['all', 'gateway', 'worker', 'bridge'])('names an unreachable Redis in one line for the %s role', async (role) => {
    const port = await freePort(); // nothing listens there
    const { code, stderr } = await runCli(role, { REDIS_URL: `redis://127.0.0.1:${port}`, RABBITMQ_URL: 'amqp://127.0.0.1:1' });
    expect(code).toBe(69);
    expect(stderr.trim()).toBe(`switchboard: cannot reach Redis at 127.0.0.1:${port} (ECONNREFUSED): is it running, and is REDIS_URL right?`);
  });

  it.each(['all', 'gateway', 'worker', 'bridge'])('names an unreachable Redis Cluster, every seed node, in one line for the %s role', async (role) => {
    const [first, second] = [await freePort(), await freePort()]; // nothing listens there
    const nodes = `127.0.0.1:${first},127.0.0.1:${second}`;
    const { code, stderr } = await runCli(role, { REDIS_CLUSTER_NODES: nodes, RABBITMQ_URL: 'amqp://127.0.0.1:1' });
    expect(code).toBe(69);
    expect(stderr.trim()).toBe(`switchboard: cannot reach the Redis Cluster at ${nodes} (ECONNREFUSED): is it running, and is REDIS_CLUSTER_NODES right?`);
  });

  it('says when REDIS_CLUSTER_NODES names a Redis that is not a cluster', async () => {
    const plain = await RedisServer.start();
    try {
      const { code, stderr } = await runCli('worker', { REDIS_CLUSTER_NODES: `127.0.0.1:${plain.port}` });
      expect(code).toBe(69);
      expect(stderr.trim()).toBe(
        `switchboard: the Redis Cluster at 127.0.0.1:${plain.port} did not answer as a cluster (None of startup nodes is available): are the nodes cluster-enabled and every slot assigned?`,
      );
    } finally {
      await plain.stop();
    }
  });

  it('reports every bad variable at once, one line each', async () => {
    const { code, stderr } = await runCli('gateway', { PORT: 'eighty', MAX_CONNECTIONS_PER_ADDRESS: '-1', TRUSTED_PROXIES: 'proxy.local' });
    expect(code).toBe(78);
    expect(stderr.trim().split('\n')).toEqual([
      'switchboard: invalid configuration: PORT: expected an integer from 0 to 65535, got "eighty"',
      'switchboard: invalid configuration: MAX_CONNECTIONS_PER_ADDRESS: expected an integer from 0 to 10000000, got "-1"',
      'switchboard: invalid configuration: TRUSTED_PROXIES: expected comma-separated IP addresses or CIDR blocks, like 10.0.0.0/8,127.0.0.1',
      'switchboard: invalid configuration: REDIS_URL: required for the gateway role, or REDIS_CLUSTER_NODES (without Redis, run the all role: gateway and worker in one process)',
    ]);
  });
});
