import type { GatewayContext } from '../context.js';
import { PREFLIGHT_HEADERS } from './cors.js';
import { Reply, getAndHead } from './respond.js';

/** `/health`, `/livez`, `/readyz`, `/metrics`, CORS preflight and the 404 fallback. */
export function registerOpsRoutes(ctx: GatewayContext): void {
  const { app, config, engine, registry, connections, origins, logger, metrics, subscription } = ctx;
  metrics.maxConnections.set(config.maxConnections);

  getAndHead(app, '/health', (reply) => {
    reply.json(200, {
      status: ctx.isDraining() ? 'draining' : 'ok',
      service: 'gateway',
      node: config.nodeId,
      connectedClients: connections.total,
      redis: engine.health(),
      timestamp: new Date().toISOString(),
    });
  });

  getAndHead(app, '/livez', (reply) => {
    reply.json(200, { status: 'ok' });
  });

  getAndHead(app, '/readyz', (reply) => {
    const redis = engine.health();
    const draining = ctx.isDraining();
    // A stalled subscription would leave this node's clients silently behind: not ready.
    const ready = !draining && redis !== 'down' && subscription.up;
    reply.json(ready ? 200 : 503, { ready, draining, redis, subscription: subscription.up ? 'up' : 'down' });
  });

  getAndHead(app, '/metrics', (reply) => {
    // The in-memory engine has no Redis to lose: reported up.
    metrics.redisUp.set(engine.health() === 'down' ? 0 : 1);
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
    new Reply(res, req.getMethod() === 'head').json(404, { error: `not found: ${req.getMethod().toUpperCase()} ${req.getUrl()}` });
  });
}
