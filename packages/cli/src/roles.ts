import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { RabbitBridge, createBridgeMetrics, startBridgeHttp } from '@switchboard/bridge';
import { createGateway } from '@switchboard/gateway';
import { NodeReporter } from '@switchboard/runtime';
import { nodeReportOps } from '@switchboard/state';
import { createWorker, startWorkerHttp } from '@switchboard/worker';

export const ROLES = ['all', 'gateway', 'worker', 'bridge'] as const;
export type Role = (typeof ROLES)[number];

/** A started role: how to take it down gracefully. */
export interface RunningRole {
  /** Readiness 503, stop accepting, close clients, finish in-flight work. */
  shutdown(): Promise<void>;
}

interface RoleDeps {
  config: Config;
  engine: Engine;
  logger: Logger;
  registry: Registry;
}

/** The dashboard package ships a static page and its assets; gateways serve them at `/`. */
const dashboardDir = (): string => join(dirname(createRequire(import.meta.url).resolve('@switchboard/dashboard/package.json')), 'public');

export async function startRole(role: Role, deps: RoleDeps): Promise<RunningRole> {
  const { config, engine, logger, registry } = deps;
  const withGateway = role === 'all' || role === 'gateway';
  const withWorker = role === 'all' || role === 'worker';
  // The all role forwards RabbitMQ too when RABBITMQ_URL is set (single-node deployments).
  const rabbitmq = role === 'bridge' || role === 'all' ? config.rabbitmq : undefined;

  const worker = withWorker ? createWorker(deps) : undefined;
  const gateway = withGateway ? await createGateway({ ...deps, dashboardDir: dashboardDir() }) : undefined;
  const bridge = rabbitmq
    ? new RabbitBridge(engine, { rabbitmq, nodeId: config.nodeId, dedupeTtlS: config.idempotencyTtlS }, createBridgeMetrics(registry), logger.child({ component: 'bridge' }))
    : undefined;
  // The worker and bridge roles serve health and metrics on their own small HTTP server.
  const common = { host: config.host, port: config.port, nodeId: config.nodeId, engine, registry, logger };
  const opsHttp = gateway
    ? undefined
    : worker
      ? await startWorkerHttp({ ...common, worker })
      : bridge && rabbitmq
        ? await startBridgeHttp({ ...common, bridge, queue: rabbitmq.queue })
        : undefined;

  const port = gateway ? await gateway.listen() : opsHttp?.port;
  worker?.start();
  await bridge?.start();
  // Every node reports its figures for the cluster's PerformanceMetrics (/ws/logs), under a name
  // of its own: processes sharing a NODE_ID (the hostname by default) must not overwrite each other.
  const reportIntervalMs = config.logMetricsIntervalMs;
  const reporter = new NodeReporter(
    {
      nodeId: `${config.nodeId}-${role}-${randomBytes(3).toString('hex')}`,
      intervalMs: reportIntervalMs,
      connections: () => gateway?.connectionCounts() ?? { all: 0, logs: 0 },
      store: async (report) => {
        await engine.commit({ guard: { kind: 'none' }, ops: nodeReportOps(report, reportIntervalMs) });
      },
    },
    logger,
  );
  reporter.start();
  gateway?.onConnectionsChanged(() => reporter.nudge());

  if (role === 'all') {
    const base = `http://localhost:${port}`;
    logger.info(
      { dashboard: `${base}/`, analytics: `ws://localhost:${port}/ws/analytics`, ingest: `${base}/events`, engine: engine.kind },
      `Switchboard is up: open ${base}/ for the dashboard`,
    );
  }

  return {
    async shutdown() {
      reporter.stop();
      gateway?.markDraining();
      opsHttp?.markDraining();
      // Readiness is 503 now; give load balancers time to stop sending before the listener closes.
      if (config.drainDelayMs > 0) await new Promise((r) => setTimeout(r, config.drainDelayMs));
      await gateway?.drain(config.shutdownTimeoutMs);
      await bridge?.stop(config.shutdownTimeoutMs);
      await worker?.stop();
      await opsHttp?.close();
    },
  };
}
