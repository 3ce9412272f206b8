import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { IngestConsumer } from './consumer.js';
import { Heartbeat } from './heartbeat.js';
import { LogMetricsPublisher } from './log-metrics.js';
import { createWorkerMetrics } from './metrics.js';
import { EntryProcessor } from './processor.js';

export interface WorkerDeps {
  config: Config;
  engine: Engine;
  logger: Logger;
  registry: Registry;
}

export interface Worker {
  /** Consumer name in the group, unique per process. */
  readonly consumer: string;
  isHeartbeatLeader(): boolean;
  /** True once the consumer read the ingest stream since its start or its last failure. */
  isConsuming(): boolean;
  start(): void;
  /** Stops consuming and beating; resolves once in-flight entries are done. */
  stop(): Promise<void>;
}

export function createWorker({ config, engine, logger, registry }: WorkerDeps): Worker {
  // A fresh suffix per process: a restarted worker must not inherit a dead one's pending entries
  // silently; they are taken over explicitly, as any dead consumer's.
  const consumer = `${config.nodeId}-${randomBytes(3).toString('hex')}`;
  const log = logger.child({ component: 'worker', consumer });
  const metrics = createWorkerMetrics(registry, engine);
  const processor = new EntryProcessor(engine, consumer, metrics, log, { logHistoryLimit: config.logHistoryLimit });
  const ingest = new IngestConsumer(engine, processor, { consumer, claimIdleMs: config.ingestClaimIdleMs }, metrics, log);
  const heartbeat = new Heartbeat(engine, { intervalMs: config.heartbeatIntervalMs, holder: consumer }, metrics, log);
  const logMetrics = new LogMetricsPublisher(
    engine,
    { intervalMs: config.logMetricsIntervalMs, isLeader: () => heartbeat.isLeader },
    metrics,
    log,
  );

  return {
    consumer,
    isHeartbeatLeader: () => heartbeat.isLeader,
    isConsuming: () => ingest.isConsuming,
    start() {
      ingest.start();
      heartbeat.start();
      logMetrics.start();
      log.info({ heartbeatIntervalMs: config.heartbeatIntervalMs }, 'worker started');
    },
    async stop() {
      logMetrics.stop();
      await Promise.all([heartbeat.stop(), ingest.stop()]);
      log.info('worker stopped');
    },
  };
}
