import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { RedisServer } from '../support/redis-server.js';
import { CLI, NodeProcess } from '../support/node-process.js';
import { TestClient } from '../support/ws-client.js';
import { IoClient } from '../support/socketio-client.js';
import jwt from 'jsonwebtoken';
import { waitFor } from '../support/wait.js';
import { post } from './helpers.js';

let redis: RedisServer;
const started: NodeProcess[] = [];

async function start(role: 'all' | 'gateway' | 'worker', env: Record<string, string>): Promise<NodeProcess> {
  const node = await NodeProcess.start(role, { LOG_LEVEL: 'warn', ...env });
  started.push(node);
  return node;
}

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterAll(async () => {
  await Promise.all(started.map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

/** Runs the CLI with an environment and returns how it ended. */
function runCli(role: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, role], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('configuration', () => {
  it.each([
    [{ PORT: 'abc' }, 'PORT: expected an integer from 0 to 65535, got "abc"'],
    [{ HEARTBEAT_INTERVAL_MS: '5' }, 'HEARTBEAT_INTERVAL_MS: expected an integer from 100 to 3600000, got "5"'],
    [{ IDLE_TIMEOUT_S: '5' }, 'IDLE_TIMEOUT_S: expected 0 (disabled) or 8 to 960 seconds'],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL: expected a redis:// or rediss:// URL'],
    [{ AUTH_REQUIRED: 'maybe' }, 'AUTH_REQUIRED: expected true or false'],
    [{ AUTH_REQUIRED: 'true' }, 'AUTH_REQUIRED: authentication is required but neither JWT_SECRET nor JWT_PUBLIC_KEY is set'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'secret', ALLOWED_ORIGINS: 'https://a.example', INGEST_API_KEYS: 'k'.repeat(20) }, 'JWT_SECRET: refused in production'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), INGEST_API_KEYS: 'k'.repeat(20) }, 'ALLOWED_ORIGINS: refused in production'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), ALLOWED_ORIGINS: 'https://a.example' }, 'INGEST_API_KEYS: refused in production'],
  ])('refuses %j with one line naming the variable', async (env, message) => {
    const { code, stderr } = await runCli('all', env);
    expect(code).toBe(78);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`switchboard: invalid configuration: ${message}`);
  });

  it('refuses the gateway and worker roles without Redis', async () => {
    const { code, stderr } = await runCli('gateway', {});
    expect(code).toBe(78);
    expect(stderr.trim()).toMatch(/^switchboard: invalid configuration: REDIS_URL: required for the gateway role/);
  });

  it('rejects an unknown role with usage help', async () => {
    const { code, stderr } = await runCli('router', {});
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/'router' is invalid for argument 'role'. Allowed choices are all, gateway, worker/);
  });
});

describe('the all role on the in-memory engine (npm start)', () => {
  it('serves the analytics product end to end without Redis', async () => {
    const node = await start('all', { HEARTBEAT_INTERVAL_MS: '500', JWT_SECRET: 'memory-secret' });
    expect(await node.json('/health')).toMatchObject({ status: 'ok', redis: 'memory' });
    const c = await TestClient.connect(node.wsUrl('/ws/analytics'));
    await c.next((f) => f.type === 'initial_stats');
    const res = await post(node.url, '/events', { type: 'letter_generated', visitor_id: 'mem-1' }, {});
    expect(res.status).toBe(202);
    const event = await c.next((f) => f['visitor_id'] === 'mem-1');
    expect(event['offset']).toEqual(expect.any(Number));
    const beat = await c.next((f) => f.type === 'heartbeat' && (f['data'] as { total_events: number }).total_events === 1);
    expect(beat['data']).toMatchObject({ current_visitors: 1, unique_today: 1, letters_today: 1 });
    c.close();

    // Socket.IO products: the worker's adapter-protocol emits reach the local server too.
    const io = await IoClient.connect(node.url, { auth: { token: jwt.sign({ sub: 'u1' }, 'memory-secret', { expiresIn: 60 }) } });
    expect(await io.ack('subscribe:level', 'fatal')).toEqual({ ok: true });
    expect(await io.ack('subscribe', 'job-9')).toEqual({ ok: true });
    const sent = await post(node.url, '/report', { service: 'api', error: { message: 'down' }, level: 'fatal' }, {});
    expect((await io.next('error:level'))['id']).toBe(sent.json['id']);
    await post(node.url, '/jobs/job-9/events', { type: 'job_failed', data: { reason: 'timeout' } }, {});
    expect(await io.next('event')).toMatchObject({ type: 'job_failed', jobId: 'job-9', data: { reason: 'timeout' } });
    io.close();
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM: readiness 503, clients closed with 1012, in-flight ingest finished, exit 0', async () => {
    const env = { REDIS_URL: redis.url, DRAIN_DELAY_MS: '1500' };
    const gateway = await start('gateway', env);
    const worker = await start('worker', { ...env, HEARTBEAT_INTERVAL_MS: '500' });
    const watcher = await start('gateway', env);
    const c = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
    const w = await TestClient.connect(watcher.wsUrl('/ws/analytics'));
    await c.next((f) => f.type === 'initial_stats');
    const io = await IoClient.connect(gateway.url);
    const ioDisconnect = new Promise<string>((resolve) => io.socket.once('disconnect', resolve));

    // An ingest request whose body is still arriving when the signal comes.
    const body = JSON.stringify({ type: 'page_view', visitor_id: 'in-flight' });
    const req = request(`${gateway.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } });
    const answer = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    req.write(body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 200));

    gateway.child.kill('SIGTERM');
    // Keep-alive agents would reuse connections; ask on fresh ones.
    await waitFor(async () => (await fetch(`${gateway.url}/readyz`, { headers: { connection: 'close' } })).status === 503, {
      what: 'readiness 503 while draining',
    });
    req.end(body.slice(10));
    expect(await answer).toBe(202);
    expect((await c.waitClosed()).code).toBe(1012);
    // Socket.IO clients lose their transport (not a server disconnect): they reconnect by themselves.
    expect(await ioDisconnect).toBe('transport close');
    expect((await gateway.exited).code).toBe(0);
    await w.next((f) => f['visitor_id'] === 'in-flight', { what: 'the in-flight event delivered elsewhere' });

    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    w.close();
  });
});

describe('Redis outage', () => {
  it('reports not ready and refuses ingest while Redis is down, and recovers when it returns', async () => {
    const own = await RedisServer.start();
    try {
      const env = { REDIS_URL: own.url, HEARTBEAT_INTERVAL_MS: '500' };
      const gateway = await start('gateway', env);
      const worker = await start('worker', env);
      const c = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
      await c.next((f) => f.type === 'initial_stats');

      await own.kill();
      await waitFor(async () => (await fetch(`${gateway.url}/readyz`)).status === 503, { what: 'gateway not ready' });
      await waitFor(async () => (await fetch(`${worker.url}/readyz`)).status === 503, { what: 'worker not ready' });
      expect((await gateway.json('/health'))['redis']).toBe('down');
      const refused = await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'during-outage' }, {});
      expect(refused.status).toBe(503);

      await own.restart();
      await waitFor(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, { what: 'gateway ready again' });
      await waitFor(async () => (await fetch(`${worker.url}/readyz`)).status === 200, { what: 'worker ready again' });
      // The restarted Redis is empty: the worker recreates the group, the gateway resubscribes.
      // Its offsets started over under a new epoch: the gateway cannot vouch for what its clients
      // missed, so it closes them with 1012; a resume is answered recovered:false.
      expect((await c.waitClosed()).code).toBe(1012);
      const first = c.frames[0]!.frame;
      const again = await TestClient.connect(gateway.wsUrl(`/ws/analytics?epoch=${first['epoch'] as string}&since=${first['offset'] as number}`));
      const resumed = await again.next((f) => f.type === 'resumed', { what: 'the resume answer' });
      expect(resumed).toMatchObject({ recovered: false });
      expect(resumed['epoch']).not.toBe(first['epoch']);
      await waitFor(async () => (await post(gateway.url, '/events', { type: 'page_view', visitor_id: 'after-outage' }, {})).status === 202);
      await again.next((f) => f['visitor_id'] === 'after-outage', { what: 'delivery after the outage' });
      again.close();
    } finally {
      await own.stop();
    }
  });
});
