import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Engine, IngestBacklog } from '@switchboard/engine';
import { registerRedisUp } from '@switchboard/runtime';

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export function createWorkerMetrics(registry: Registry, engine: Engine) {
  // Both backlog gauges are collected at once on a scrape: they share one XINFO round trip.
  let backlogRead: Promise<IngestBacklog> | undefined;
  const backlog = () =>
    (backlogRead ??= engine.ingestBacklog().finally(() => {
      backlogRead = undefined;
    }));
  const ingestPending = new Gauge({
    name: 'switchboard_worker_ingest_pending',
    help: 'Ingest entries delivered to a worker and not yet acknowledged (cluster-wide).',
    registers: [registry],
    async collect() {
      try {
        this.set((await backlog()).pending);
      } catch {
        // Redis away: keep the last value; readiness reports the outage.
      }
    },
  });
  const ingestLag = new Gauge({
    name: 'switchboard_worker_ingest_lag',
    help: 'Ingest entries not yet delivered to any worker (cluster-wide).',
    registers: [registry],
    async collect() {
      try {
        const { lag } = await backlog();
        if (lag !== null) this.set(lag);
      } catch {
        // as above
      }
    },
  });
  registerRedisUp(registry, engine);
  return {
    processed: new Counter({
      name: 'switchboard_worker_events_processed_total',
      help: 'Ingest entries applied and published, by product kind.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    failed: new Counter({
      name: 'switchboard_worker_events_failed_total',
      help: 'Ingest entries that failed: invalid (dead-lettered), poison (too many deliveries, dead-lettered) or commit_error (left pending, retried).',
      labelNames: ['kind', 'reason'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'switchboard_worker_commits_refused_total',
      help: 'Commits refused because another worker had claimed the entry meanwhile.',
      registers: [registry],
    }),
    processSeconds: new Histogram({
      name: 'switchboard_worker_process_duration_seconds',
      help: 'Time to validate, apply, publish and acknowledge one ingest entry.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    ingestPending,
    ingestLag,
    heartbeatLeader: new Gauge({
      name: 'switchboard_worker_heartbeat_leader',
      help: '1 while this worker holds the heartbeat lease.',
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: 'switchboard_worker_heartbeats_published_total',
      help: 'Heartbeats this worker published.',
      registers: [registry],
    }),
    takeovers: new Counter({
      name: 'switchboard_worker_takeovers_total',
      help: 'Consumers found dead (no longer announced alive) whose pending entries this worker took over.',
      registers: [registry],
    }),
    entriesTakenOver: new Counter({
      name: 'switchboard_worker_entries_taken_over_total',
      help: 'Pending ingest entries this worker took over from dead consumers.',
      registers: [registry],
    }),
    logMetricsPushes: new Counter({
      name: 'switchboard_worker_log_metrics_published_total',
      help: 'Cluster PerformanceMetrics pushes to /ws/logs clients this worker published.',
      registers: [registry],
    }),
  };
}
