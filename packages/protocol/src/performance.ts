import { z } from 'zod';

/**
 * The cluster's figures as `/ws/logs` clients receive them (docs/protocol-logs.md). Machine figures
 * (cpu, memory, disk, network bytes) are summed over distinct hosts; connections over nodes.
 */
export interface PerformanceMetrics {
  /** Unix milliseconds. */
  timestamp: number;
  /** `usage`: busy percentage (0-100) across all cores; `cores`: logical cores. */
  cpu: { usage: number; cores: number };
  /** Bytes. */
  memory: { used: number; free: number; total: number };
  /** Bytes, of the file system holding the working directory. */
  disk: { used: number; free: number; total: number };
  /** Bytes through the hosts' network interfaces since boot; `connections`: WebSocket connections, all endpoints. */
  network: { bytesReceived: number; bytesSent: number; connections: number };
  /** `/ws/logs` connections, cluster-wide. */
  activeConnections: number;
  /** Log entries per second, cluster-wide, over the last few seconds. */
  messageRate: number;
  /** Error-level log entries per second, same window. */
  errorRate: number;
}

const figure = z.number().finite().nonnegative();
const triple = z.object({ used: figure, free: figure, total: figure });

/** What one node writes to Redis every report interval (see NODE_METRICS_KEYS). */
export const nodeReportSchema = z.object({
  node: z.string().min(1),
  /** Machine figures of nodes on the same host are counted once. */
  host: z.string().min(1),
  /** Unix milliseconds of the sample. */
  at: figure,
  cpu: z.object({ usage: figure, cores: figure }),
  memory: triple,
  disk: triple,
  network: z.object({ bytesReceived: figure, bytesSent: figure }),
  /** WebSocket connections on this node, all endpoints. */
  connections: figure,
  /** `/ws/logs` connections on this node. */
  logConnections: figure,
});
export type NodeReport = z.output<typeof nodeReportSchema>;

export const metricsFrame = (metrics: PerformanceMetrics): string => `{"type":"metrics","payload":${JSON.stringify(metrics)}}`;
