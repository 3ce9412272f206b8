import { request } from 'node:http';
import pino from 'pino';
import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpsHttp, type OpsHttp } from '../src/ops/node-http.js';

const logger = pino({ level: 'silent' });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const call = (port: number, method: string, path: string): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('ops routes on node:http', () => {
  let ops: OpsHttp | undefined;
  afterEach(async () => {
    await ops?.close();
    ops = undefined;
  });

  const start = async (state: { ready: boolean }, registry = new Registry()) => {
    new Gauge({ name: 'test_gauge', help: 'A gauge for the test.', registers: [registry] }).set(3);
    ops = await startOpsHttp({
      host: '127.0.0.1',
      port: 0,
      registry,
      logger,
      health: () => ({ service: 'test', node: 'n1' }),
      readiness: () => ({ ready: state.ready, details: { redis: state.ready ? 'up' : 'down' } }),
    });
    return ops.port;
  };

  it('answers GET on each route with the shared bodies', async () => {
    const port = await start({ ready: true });
    expect(port).toBeGreaterThan(0);
    const health = await call(port, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(health.body)).toEqual({ status: 'ok', service: 'test', node: 'n1', timestamp: expect.any(String) });
    expect(await call(port, 'GET', '/livez')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await call(port, 'GET', '/readyz?verbose=1')).toMatchObject({ status: 200, body: '{"ready":true,"draining":false,"redis":"up"}' });
    const metrics = await call(port, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('test_gauge 3');
  });

  it('answers HEAD with the status and headers of GET and no body', async () => {
    const state = { ready: false };
    const port = await start(state);
    for (const path of ['/health', '/livez', '/readyz', '/metrics']) {
      const [get, head] = [await call(port, 'GET', path), await call(port, 'HEAD', path)];
      expect(head.status, path).toBe(get.status);
      expect(head.headers['content-type'], path).toBe(get.headers['content-type']);
      expect(head.body, path).toBe('');
      if (path !== '/health') expect(Number(head.headers['content-length']), path).toBe(Buffer.byteLength(get.body));
    }
    expect((await call(port, 'HEAD', '/readyz')).status).toBe(503);
  });

  it('refuses other methods on an ops route with 405 and Allow, and unknown paths with 404', async () => {
    const port = await start({ ready: true });
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await call(port, method, '/health');
      expect(answer.status, method).toBe(405);
      expect(answer.headers['allow'], method).toBe('GET, HEAD');
      expect(JSON.parse(answer.body)).toEqual({ error: 'method not allowed' });
    }
    expect((await call(port, 'GET', '/nope')).status).toBe(404);
    expect((await call(port, 'POST', '/nope')).status).toBe(404);
    expect((await call(port, 'GET', '/health/extra')).status).toBe(404);
  });

  it('is not ready while the process cannot work, nor once draining (health says so too)', async () => {
    const state = { ready: false };
    const port = await start(state);
    expect(await call(port, 'GET', '/readyz')).toMatchObject({ status: 503, body: '{"ready":false,"draining":false,"redis":"down"}' });
    state.ready = true;
    expect((await call(port, 'GET', '/readyz')).status).toBe(200);
    ops!.markDraining();
    expect(await call(port, 'GET', '/readyz')).toMatchObject({ status: 503, body: '{"ready":false,"draining":true,"redis":"up"}' });
    expect(JSON.parse((await call(port, 'GET', '/health')).body).status).toBe('draining');
    // Liveness is not readiness: a draining process is alive.
    expect((await call(port, 'GET', '/livez')).status).toBe(200);
  });

  it('answers 500 when metrics collection fails, and keeps serving', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'test_failing',
      help: 'A gauge whose collection fails.',
      registers: [registry],
      collect() {
        throw new Error('collect failed');
      },
    });
    const port = await start({ ready: true }, registry);
    expect(await call(port, 'GET', '/metrics')).toMatchObject({ status: 500, body: '{"error":"metrics unavailable"}' });
    expect((await call(port, 'GET', '/livez')).status).toBe(200);
  });
});
