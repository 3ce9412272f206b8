import { NODE_METRICS_KEYS, nodeReportSchema, type NodeReport, type PerformanceMetrics } from '@switchboard/protocol';
import type { Store, StoreOp } from '@switchboard/engine';
import { readLogRates } from './log-history.js';

/** A node's report counts while it is younger than this many report intervals. */
const REPORT_LIFETIME_INTERVALS = 3;

export const reportLifetimeMs = (intervalMs: number): number => intervalMs * REPORT_LIFETIME_INTERVALS;

/** Writes a node's latest figures, expiring on their own once the node stops reporting. */
export function nodeReportOps(report: NodeReport, intervalMs: number): StoreOp[] {
  return [
    { op: 'set', key: NODE_METRICS_KEYS.node(report.node), value: JSON.stringify(report), ttlS: Math.max(1, Math.ceil(reportLifetimeMs(intervalMs) / 1000)) },
    { op: 'zadd', key: NODE_METRICS_KEYS.nodes, score: report.at, member: report.node },
  ];
}

/** Forgets nodes that stopped reporting long ago (their figure keys have expired already). */
export const pruneNodeReportsOp = (now: number, intervalMs: number): StoreOp => ({
  op: 'zremrangebyscore',
  key: NODE_METRICS_KEYS.nodes,
  max: now - 2 * reportLifetimeMs(intervalMs),
});

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The cluster's figures from the nodes' reports: machine figures once per host (its freshest
 * report), connections summed over nodes.
 */
export function aggregateReports(reports: NodeReport[], rates: { messageRate: number; errorRate: number }, now: number): PerformanceMetrics {
  const byHost = new Map<string, NodeReport>();
  for (const report of reports) {
    const seen = byHost.get(report.host);
    if (seen === undefined || seen.at < report.at) byHost.set(report.host, report);
  }
  const hosts = [...byHost.values()];
  const sum = (pick: (r: NodeReport) => number, of: NodeReport[] = hosts) => of.reduce((total, r) => total + pick(r), 0);
  const cores = sum((r) => r.cpu.cores);
  return {
    timestamp: now,
    cpu: { usage: cores > 0 ? round(sum((r) => r.cpu.usage * r.cpu.cores) / cores) : 0, cores },
    memory: { used: sum((r) => r.memory.used), free: sum((r) => r.memory.free), total: sum((r) => r.memory.total) },
    disk: { used: sum((r) => r.disk.used), free: sum((r) => r.disk.free), total: sum((r) => r.disk.total) },
    network: {
      bytesReceived: sum((r) => r.network.bytesReceived),
      bytesSent: sum((r) => r.network.bytesSent),
      connections: sum((r) => r.connections, reports),
    },
    activeConnections: sum((r) => r.logConnections, reports),
    messageRate: rates.messageRate,
    errorRate: rates.errorRate,
  };
}

/** Reads every live node's report and the log rates, and aggregates them. */
export async function readClusterMetrics(engine: Store, intervalMs: number, now = Date.now()): Promise<PerformanceMetrics> {
  const [reports, rates] = await Promise.all([readNodeReports(engine, intervalMs, now), readLogRates(engine, now)]);
  return aggregateReports(reports, rates, now);
}

/** Every live node's latest report (a node that stopped reporting drops out after a few intervals). */
export async function readNodeReports(engine: Store, intervalMs: number, now = Date.now()): Promise<NodeReport[]> {
  const [nodes = []] = await engine.readStrings([
    { op: 'zrangebyscore', key: NODE_METRICS_KEYS.nodes, min: now - reportLifetimeMs(intervalMs) },
  ]);
  const [raw = []] = await engine.readStrings([{ op: 'mget', keys: nodes.map(NODE_METRICS_KEYS.node) }]);
  const reports: NodeReport[] = [];
  for (const text of raw) {
    try {
      const parsed = nodeReportSchema.safeParse(JSON.parse(text));
      if (parsed.success) reports.push(parsed.data);
    } catch {
      // A report this version cannot read (another release mid-upgrade): leave it out.
    }
  }
  return reports;
}
