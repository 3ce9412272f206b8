import uWS, { type us_listen_socket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { acceptAnalytics, analyticsIngestSchema, availabilityIngestSchema, jobIngestSchema, reportIngestSchema } from '@switchboard/protocol';
import { IngestKeys } from './auth/ingest-keys.js';
import { InflightRequests, type GatewayContext } from './context.js';
import { OriginPolicy } from './http/cors.js';
import { registerIngestRoute } from './http/ingest.js';
import { logIngestRoute } from './http/log-ingest.js';
import { registerOpsRoutes } from './http/ops.js';
import { registerServerApi } from './api/index.js';
import { GatewayPresence } from './presence/gateway-presence.js';
import { UserDisconnects } from './presence/disconnect.js';
import { registerChannelGauges } from './presence/metrics.js';
import { registerDashboard } from './http/static.js';
import { registerStatusRoute } from './http/status.js';
import { createGatewayMetrics } from './metrics.js';
import { registerAnalyticsEndpoint } from './ws/analytics.js';
import { registerAvailabilityEndpoint } from './ws/availability.js';
import { AddressLimits } from './ws/address-limits.js';
import { ClientAddresses } from './ws/client-address.js';
import { ConnectionRegistry } from './ws/connections.js';
import { SubscriptionMonitor } from './feed/subscription-monitor.js';
import { attachSocketIo } from './socketio/server.js';
import { listenExclusive } from './listen.js';
import { LOGS_ENDPOINT } from './ws/logs/hub.js';
import { registerLogsEndpoint } from './ws/logs/endpoint.js';

export interface GatewayDeps {
  config: Config;
  engine: Engine;
  logger: Logger;
  registry: Registry;
  /** The dashboard's directory (index.html and its assets), served at `/`, when there is one. */
  dashboardDir?: string;
}

export interface Gateway {
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Readiness turns 503 from here on (call before the drain when an orchestrator needs time). */
  markDraining(): void;
  /**
   * Graceful shutdown: refuse new connections, close clients with 1012 so they reconnect
   * elsewhere, wait for in-flight ingest requests.
   */
  drain(timeoutMs: number): Promise<void>;
  /** This node's WebSocket connections: all endpoints, and `/ws/logs` (for the node's metrics report). */
  connectionCounts(): { all: number; logs: number };
  /** Called after each WebSocket open and close on this node. */
  onConnectionsChanged(listener: () => void): void;
}

/** Close code "service restart" (RFC 6455 registry): clients reconnect, to another node. */
const CLOSE_SERVICE_RESTART = 1012;

export async function createGateway({ config, engine, logger, registry, dashboardDir }: GatewayDeps): Promise<Gateway> {
  const log = logger.child({ component: 'gateway' });
  const app = uWS.App();
  const metrics = createGatewayMetrics(registry);
  let draining = false;
  let listenSocket: us_listen_socket | undefined;
  const subscription = new SubscriptionMonitor(engine, metrics, log);
  const addressLimits = new AddressLimits(config.maxConnectionsPerAddress, config.upgradeRatePerAddress, config.upgradeBurstPerAddress);

  const ctx: GatewayContext = {
    app,
    config,
    engine,
    logger: log,
    registry,
    metrics,
    origins: new OriginPolicy(config.allowedOrigins),
    ingestKeys: new IngestKeys(config.ingestApiKeys),
    connections: new ConnectionRegistry(metrics, addressLimits),
    clientAddresses: new ClientAddresses(config.trustedProxies),
    addressLimits,
    subscription,
    inflight: new InflightRequests(),
    presence: new GatewayPresence(engine, config, log, { metrics, subscription }),
    isDraining: () => draining,
  };

  // Specific routes first; the ops module ends with the catch-all 404.
  await registerAnalyticsEndpoint(ctx);
  const socketIo = await attachSocketIo(ctx);
  registerIngestRoute(ctx, { path: '/events', kind: 'analytics', schema: analyticsIngestSchema, accept: acceptAnalytics });
  registerIngestRoute(ctx, { path: '/report', kind: 'error', schema: reportIngestSchema });
  registerIngestRoute(ctx, {
    path: '/jobs/:jobId/events',
    kind: 'job',
    schema: jobIngestSchema,
    fromPath: (req) => ({ jobId: req.getParameter(0) }),
  });
  await registerLogsEndpoint(ctx);
  registerIngestRoute(ctx, logIngestRoute);
  const availability = await registerAvailabilityEndpoint(ctx);
  registerIngestRoute(ctx, { path: '/availability', kind: 'availability', schema: availabilityIngestSchema });
  const users = new UserDisconnects(ctx, socketIo.io);
  await users.start();
  registerServerApi(ctx, users);
  if (dashboardDir !== undefined) registerDashboard(ctx, dashboardDir);
  registerStatusRoute(ctx);
  registerOpsRoutes(ctx);
  ctx.subscription.start();
  ctx.presence.start();
  const stopChannelGauges = registerChannelGauges(registry, engine);

  return {
    listen: () =>
      listenExclusive(app, config.host, config.port, config.reusePort).then(({ socket, port }) => {
        listenSocket = socket;
        log.info({ port, engine: engine.kind, reusePort: config.reusePort }, 'gateway listening');
        return port;
      }),
    markDraining: () => {
      draining = true;
    },
    connectionCounts: () => ({ all: ctx.connections.total, logs: ctx.connections.count(LOGS_ENDPOINT) }),
    onConnectionsChanged: (listener) => ctx.connections.onChange(listener),
    async drain(timeoutMs) {
      draining = true;
      // Not waited for by cluster-wide disconnects any more; a failure (Redis down) must not stop the drain.
      await users.stop().catch((err: unknown) => log.warn({ err }, 'draining: gateway not withdrawn from disconnects; it goes stale on its own'));
      availability.stop();
      ctx.subscription.stop();
      ctx.presence.stop();
      stopChannelGauges();
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      log.info({ clients: ctx.connections.total }, 'draining: closing clients with 1012');
      ctx.connections.closeAll(CLOSE_SERVICE_RESTART, 'server restarting');
      await socketIo.drain();
      await ctx.inflight.idle(timeoutMs);
      await socketIo.close();
    },
  };
}
