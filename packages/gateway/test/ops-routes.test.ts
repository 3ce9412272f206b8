import pino from 'pino';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import uWS from 'uWebSockets.js';
import { mountOpsRoutes, OpsRoutes } from '@switchboard/runtime';

/** The shared ops routes on a real uWebSockets.js app, beside the gateway's own fallbacks. */
describe('ops routes on uWebSockets.js', () => {
  const state = { ready: true, draining: false };
  let port = 0;
  let token: uWS.us_listen_socket | false = false;

  beforeAll(async () => {
    const registry = new Registry();
    new Gauge({ name: 'test_gauge', help: 'A gauge for the test.', registers: [registry] }).set(7);
    const app = uWS.App();
    mountOpsRoutes(
      app,
      new OpsRoutes({
        registry,
        logger: pino({ level: 'silent' }),
        isDraining: () => state.draining,
        health: () => ({ service: 'gateway', node: 'n1' }),
        readiness: () => ({ ready: state.ready, details: { redis: state.ready ? 'up' : 'down' } }),
      }),
    );
    // As the gateway registers them: CORS preflight on every path, then a 404 for anything else.
    app.options('/*', (res) => {
      res.writeStatus('204 No Content').end();
    });
    app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('{"error":"not found"}');
    });
    await new Promise<void>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (listenSocket) => {
        if (!listenSocket) return reject(new Error('listen failed'));
        token = listenSocket;
        port = uWS.us_socket_local_port(listenSocket);
        resolve();
      }),
    );
  });
  afterAll(() => {
    if (token) uWS.us_listen_socket_close(token);
  });

  const call = (method: string, path: string) => fetch(`http://127.0.0.1:${port}${path}`, { method });

  it('answers GET with the shared bodies', async () => {
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.headers.get('cache-control')).toBe('no-store');
    expect(await health.json()).toEqual({ status: 'ok', service: 'gateway', node: 'n1', timestamp: expect.any(String) });
    expect(await (await call('GET', '/livez')).text()).toBe('{"status":"ok"}');
    expect(await (await call('GET', '/readyz')).text()).toBe('{"ready":true,"draining":false,"redis":"up"}');
    const metrics = await call('GET', '/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toContain('test_gauge 7');
  });

  it('answers HEAD like GET without a body', async () => {
    for (const path of ['/livez', '/readyz', '/metrics']) {
      const get = await call('GET', path);
      const body = await get.text();
      const head = await call('HEAD', path);
      expect(head.status, path).toBe(get.status);
      expect(head.headers.get('content-type'), path).toBe(get.headers.get('content-type'));
      expect(Number(head.headers.get('content-length')), path).toBe(Buffer.byteLength(body));
      expect(await head.text(), path).toBe('');
    }
  });

  it('refuses other methods with 405 and Allow, and leaves preflight and unknown paths to the gateway', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await call(method, '/readyz');
      expect(answer.status, method).toBe(405);
      expect(answer.headers.get('allow'), method).toBe('GET, HEAD');
    }
    expect((await call('OPTIONS', '/health')).status).toBe(204);
    expect((await call('GET', '/nope')).status).toBe(404);
    expect((await call('GET', '/health/x')).status).toBe(404);
  });

  it('turns readiness to 503 while not ready or draining, HEAD included', async () => {
    state.ready = false;
    expect((await call('GET', '/readyz')).status).toBe(503);
    expect((await call('HEAD', '/readyz')).status).toBe(503);
    state.ready = true;
    state.draining = true;
    expect(await (await call('GET', '/readyz')).json()).toEqual({ ready: false, draining: true, redis: 'up' });
    expect(((await (await call('GET', '/health')).json()) as { status: string }).status).toBe('draining');
    state.draining = false;
  });
});
