import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { Leadership } from '@switchboard/runtime';
import { IngestConsumer } from './consumer.js';
import { heartbeatTask, trimTask } from './heartbeat.js';
import { createIntakeMetrics, IntakeForwarder } from './intake.js';
import { logMetricsTask } from './log-metrics.js';
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
  const intake = new IntakeForwarder(engine, { consumer, claimIdleMs: config.ingestClaimIdleMs }, createIntakeMetrics(registry, engine), log);
  // One lease gates everything only one worker may do. It keeps its old name, "heartbeat", so
  // that during a rolling upgrade old and new workers still compete for the same lease.
  const leadership = new Leadership(
    engine,
    { lease: 'heartbeat', holder: consumer, periodMs: config.heartbeatIntervalMs, onChange: (leader) => metrics.heartbeatLeader.set(leader ? 1 : 0) },
    log,
  )
    .add(heartbeatTask(engine, config.heartbeatIntervalMs, metrics, log))
    .add(logMetricsTask(engine, config.logMetricsIntervalMs, metrics, log))
    .add(trimTask(engine, config.heartbeatIntervalMs, log));

  return {
    consumer,
    isHeartbeatLeader: () => leadership.isLeader,
    isConsuming: () => ingest.isConsuming,
    start() {
      ingest.start();
      intake.start();
      leadership.start();
      log.info({ heartbeatIntervalMs: config.heartbeatIntervalMs }, 'worker started');
    },
    async stop() {
      await Promise.all([leadership.stop(), intake.stop(), ingest.stop()]);
      log.info('worker stopped');
    },
  };
}
