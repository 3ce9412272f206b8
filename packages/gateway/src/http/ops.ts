import type { GatewayContext } from '../context.js';
import { PREFLIGHT_HEADERS } from './cors.js';
import { Reply } from './respond.js';

/** `/health`, `/livez`, `/readyz`, `/metrics`, CORS preflight and the 404 fallback. */
export function registerOpsRoutes(ctx: GatewayContext): void {
  const { app, config, engine, registry, connections, origins, logger } = ctx;

  app.get('/health', (res) => {
    new Reply(res).json(200, {
      status: ctx.isDraining() ? 'draining' : 'ok',
      service: 'gateway',
      node: config.nodeId,
      connectedClients: connections.total,
      redis: engine.health(),
      timestamp: new Date().toISOString(),
    });
  });

  app.get('/livez', (res) => {
    new Reply(res).json(200, { status: 'ok' });
  });

  app.get('/readyz', (res) => {
    const redis = engine.health();
    const draining = ctx.isDraining();
    const ready = !draining && redis !== 'down';
    new Reply(res).json(ready ? 200 : 503, { ready, draining, redis });
  });

  app.get('/metrics', (res) => {
    const reply = new Reply(res);
    registry.metrics().then(
      (text) => reply.send(200, text, registry.contentType),
      (err: unknown) => {
        logger.error({ err }, 'metrics collection failed');
        reply.json(500, { error: 'metrics unavailable' });
      },
    );
  });

  app.options('/*', (res, req) => {
    const origin = req.getHeader('origin');
    const reply = new Reply(res);
    if (!origins.allows(origin)) return reply.json(403, { error: 'origin not allowed' });
    reply.headers.push(...origins.corsHeaders(origin), ...PREFLIGHT_HEADERS);
    reply.send(204, '', 'text/plain');
  });

  app.any('/*', (res, req) => {
    new Reply(res).json(404, { error: `not found: ${req.getMethod().toUpperCase()} ${req.getUrl()}` });
  });
}
