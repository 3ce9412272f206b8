import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { CHANNELS, logMetricsSlotKey, metricsFrame } from '@switchboard/protocol';
import { pruneNodeReportsOp, readClusterMetrics } from '@switchboard/state';
import type { WorkerMetrics } from './metrics.js';

export interface LogMetricsOptions {
  intervalMs: number;
  /** Pushes come from the heartbeat lease holder only. */
  isLeader: () => boolean;
}

/**
 * Pushes the cluster's PerformanceMetrics to every `/ws/logs` client (DESIGN section 1.3: every
 * 5 s): the heartbeat leader aggregates the nodes' reports and publishes them on the metrics
 * channel. Pushes fall on wall-clock slots, each published at most once, like heartbeats.
 */
export class LogMetricsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: LogMetricsOptions,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const { intervalMs } = this.options;
    this.timer = setTimeout(() => {
      if (this.options.isLeader()) void this.push();
      this.schedule();
    }, intervalMs - (Date.now() % intervalMs) + 1);
  }

  private async push(): Promise<void> {
    const { intervalMs } = this.options;
    const now = Date.now();
    const slot = Math.floor(now / intervalMs);
    try {
      const figures = await readClusterMetrics(this.engine, intervalMs, now);
      const result = await this.engine.commit({
        guard: { kind: 'once', key: logMetricsSlotKey(slot), ttlS: Math.max(1, Math.ceil((intervalMs * 3) / 1000)) },
        ops: [pruneNodeReportsOp(now, intervalMs)],
        publish: { channel: CHANNELS.logsMetrics, frame: metricsFrame(figures) },
      });
      if (result.applied) this.metrics.logMetricsPushes.inc();
    } catch (err) {
      this.logger.warn({ err, slot }, 'log metrics not published');
    }
  }
}
