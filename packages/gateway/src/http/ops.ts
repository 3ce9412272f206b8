import { mountOpsRoutes, OpsRoutes, registerRedisUp } from '@switchboard/runtime';
import type { GatewayContext } from '../context.js';
import { PREFLIGHT_HEADERS } from './cors.js';
import { Reply } from './respond.js';

/** `/health`, `/livez`, `/readyz`, `/metrics` (the shared ops routes), CORS preflight and the 404 fallback. */
export function registerOpsRoutes(ctx: GatewayContext): void {
  const { app, config, engine, registry, connections, origins, logger, metrics, subscription } = ctx;
  metrics.maxConnections.set(config.maxConnections);
  registerRedisUp(registry, engine);

  const routes = new OpsRoutes({
    registry,
    logger,
    isDraining: () => ctx.isDraining(),
    health: () => ({ service: 'gateway', node: config.nodeId, connectedClients: connections.total, redis: engine.health() }),
    // A stalled subscription would leave this node's clients silently behind: not ready.
    readiness: () => {
      const redis = engine.health();
      return { ready: redis !== 'down' && subscription.up, details: { redis, subscription: subscription.up ? 'up' : 'down' } };
    },
  });
  mountOpsRoutes(app, routes);

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
