import type { Logger } from 'pino';
import type { Engine, HistoryLimits } from './engine.js';
import { MemoryEngine } from './memory/memory-engine.js';
import { RedisEngine, type ClusterNode } from './redis/redis-engine.js';

/** Where the engine keeps its state: one Redis, a Redis Cluster, or nothing (in memory). */
export interface EngineTarget {
  redisUrl?: string | undefined;
  redisClusterNodes?: ClusterNode[] | undefined;
  /** Ingest partitions on a Redis Cluster. */
  ingestPartitions?: number;
}

/** Redis when a URL is given, a Redis Cluster when nodes are, otherwise the in-memory engine (one process only). */
export function createEngine(target: EngineTarget, logger: Logger, history?: HistoryLimits): Engine {
  if (target.redisClusterNodes !== undefined) {
    return new RedisEngine({ cluster: { nodes: target.redisClusterNodes, partitions: target.ingestPartitions }, logger, history });
  }
  return target.redisUrl === undefined ? new MemoryEngine({ history }) : new RedisEngine({ url: target.redisUrl, logger, history });
}
