import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Engine } from '@switchboard/engine';
import { startOpsHttp, type OpsHttp } from '@switchboard/runtime';
import type { Worker } from './worker.js';

export type WorkerHttp = OpsHttp;

/**
 * The worker role's own small HTTP server: `/health` (with `consumer` and `heartbeatLeader`),
 * `/livez`, `/readyz` (200 only while the worker consumes: Redis reachable and a read of the
 * ingest stream completed since the last failure; 503 while draining), `/metrics`.
 */
export async function startWorkerHttp(opts: {
  host: string;
  port: number;
  nodeId: string;
  engine: Engine;
  worker: Worker;
  registry: Registry;
  logger: Logger;
}): Promise<WorkerHttp> {
  const { engine, worker, nodeId } = opts;
  return startOpsHttp({
    ...opts,
    health: () => ({
      service: 'worker',
      node: nodeId,
      consumer: worker.consumer,
      heartbeatLeader: worker.isHeartbeatLeader(),
      redis: engine.health(),
    }),
    readiness: () => {
      const consuming = worker.isConsuming();
      return { ready: consuming && engine.health() !== 'down', details: { redis: engine.health(), consuming } };
    },
  });
}
