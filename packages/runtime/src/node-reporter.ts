import type { Logger } from 'pino';
import type { NodeReport } from '@switchboard/protocol';
import { MachineSampler } from './node-sample.js';

export interface NodeReporterOptions {
  nodeId: string;
  intervalMs: number;
  /** This node's WebSocket connections: all endpoints, and `/ws/logs`. */
  connections: () => { all: number; logs: number };
  /** Stores one report where the cluster's aggregation reads it (it expires on its own). */
  store: (report: NodeReport) => Promise<void>;
}

/** A burst of changes is reported this long after its first. */
const NUDGE_DELAY_MS = 200;

/**
 * Every node writes its own figures each interval, with a TTL (docs/protocol-logs.md: the log
 * stream's PerformanceMetrics are the cluster's); the leading worker aggregates.
 */
export class NodeReporter {
  private timer: NodeJS.Timeout | undefined;
  private nudged: NodeJS.Timeout | undefined;
  private readonly sampler = new MachineSampler();
  private failures = 0;

  constructor(
    private readonly options: NodeReporterOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.report();
    this.timer = setInterval(() => void this.report(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.nudged);
  }

  /** Something changed (a connection opened or closed): report soon, once per burst of changes. */
  nudge(): void {
    this.nudged ??= setTimeout(() => {
      this.nudged = undefined;
      void this.report();
    }, NUDGE_DELAY_MS);
  }

  /** Samples and writes one report; never throws. */
  async report(): Promise<void> {
    const { nodeId } = this.options;
    try {
      const machine = await this.sampler.sample();
      const { all, logs } = this.options.connections();
      await this.options.store({ node: nodeId, at: Date.now(), ...machine, connections: all, logConnections: logs });
      if (this.failures > 0) this.logger.info('node metrics reported again');
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      if (this.failures === 1) this.logger.warn({ err }, 'node metrics not reported');
    }
  }
}
