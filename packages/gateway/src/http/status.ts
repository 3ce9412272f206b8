import type { Engine, IngestBacklog, RedisNodeRole } from '@switchboard/engine';
import { readAnalyticsStats, readLogRates, readNodeReports } from '@switchboard/state';
import type { GatewayContext } from '../context.js';
import { ReadCache } from '../stats-cache.js';
import { getAndHead } from './respond.js';

/** The route of the operations view's figures. */
export const STATUS_PATH = '/api/status';

/** The lease the worker that runs the cluster-wide tasks (heartbeats, log metrics, trimming) holds. */
const LEADER_LEASE = 'heartbeat';

/**
 * What the dashboard's operations view draws, read from what the processes already publish:
 * the node reports, the analytics total, the log stream's rates, the ingest backlog, the
 * dead-letter stream, the leader lease and Redis itself. Cluster-wide: every gateway answers
 * the same figures. Counters are totals; the page turns successive totals into rates.
 */
export interface OpsStatus {
  /** Unix ms of the read. */
  at: number;
  /** The gateway that answered. */
  gateway: string;
  /** Analytics events applied since the start of the data (a total: its slope is events/s). */
  eventsTotal: number;
  /** Log lines and error-level log lines per second over the last seconds, cluster-wide. */
  logs: { messageRate: number; errorRate: number };
  /** Every node that reported lately, its WebSocket connections and how old its report is. */
  nodes: { node: string; connections: number; ageMs: number }[];
  ingest: Required<IngestBacklog>;
  deadLetters: number;
  /** The worker holding the leader lease, or null while none does. */
  leader: string | null;
  /** Each Redis server and its role (empty on the in-memory engine). */
  redis: RedisNodeRole[];
}

export async function readOpsStatus(engine: Engine, gateway: string, reportIntervalMs: number, now = Date.now()): Promise<OpsStatus> {
  const [stats, logs, reports, backlog, deadLetters, leader, redis] = await Promise.all([
    readAnalyticsStats(engine, now),
    readLogRates(engine, now),
    readNodeReports(engine, reportIntervalMs, now),
    engine.ingestBacklog(),
    engine.deadLetters.count(),
    engine.leaseHolder(LEADER_LEASE),
    engine.redisNodes(),
  ]);
  return {
    at: now,
    gateway,
    eventsTotal: stats.total_events,
    logs,
    nodes: reports.map((r) => ({ node: r.node, connections: r.connections, ageMs: Math.max(0, now - r.at) })).sort((a, b) => a.node.localeCompare(b.node)),
    ingest: { pending: backlog.pending, lag: backlog.lag, partitions: backlog.partitions ?? [{ pending: backlog.pending, lag: backlog.lag }] },
    deadLetters,
    leader: leader ?? null,
    redis,
  };
}

/**
 * `GET /api/status`: the operations view's figures as JSON. Open like `/metrics` (counts and
 * node names, no client data); reads are shared for a second, so many open dashboards cost
 * about one read a second.
 */
export function registerStatusRoute(ctx: GatewayContext): void {
  const { app, engine, config, logger } = ctx;
  const cache = new ReadCache((now) => readOpsStatus(engine, config.nodeId, config.logMetricsIntervalMs, now), 1_000);
  getAndHead(app, STATUS_PATH, (reply) => {
    cache.get().then(
      (status) => reply.json(200, status),
      (err: unknown) => {
        logger.warn({ err }, 'status read failed');
        reply.json(503, { error: 'status unavailable: the shared state cannot be read' });
      },
    );
  });
}
