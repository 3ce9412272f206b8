import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { CHANNELS, logMetricsSlotKey, metricsFrame } from '@switchboard/protocol';
import { slotGuard, type LeaderTask } from '@switchboard/runtime';
import { pruneNodeReportsOp, readClusterMetrics } from '@switchboard/state';
import type { WorkerMetrics } from './metrics.js';

/**
 * Pushes the cluster's PerformanceMetrics to every `/ws/logs` client (docs/protocol-logs.md: every
 * 5 s): the leader aggregates the nodes' reports and publishes them on the metrics channel,
 * at most once per wall-clock slot, like heartbeats.
 */
export function logMetricsTask(engine: Engine, intervalMs: number, metrics: WorkerMetrics, logger: Logger): LeaderTask {
  return {
    name: 'log-metrics',
    intervalMs,
    catchUpOnAcquire: true,
    async run(slot, now) {
      try {
        const figures = await readClusterMetrics(engine, intervalMs, now);
        const result = await engine.commit({
          guard: slotGuard(logMetricsSlotKey(slot), intervalMs),
          ops: [pruneNodeReportsOp(now, intervalMs)],
          publish: { channel: CHANNELS.logsMetrics, frame: metricsFrame(figures) },
        });
        if (result.applied) metrics.logMetricsPushes.inc();
      } catch (err) {
        logger.warn({ err, slot }, 'log metrics not published');
      }
    },
  };
}
