import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_INGEST_PARTITIONS, clusterTopology, type EngineTarget } from '@switchboard/engine';
import { INGEST_STREAM } from '@switchboard/protocol';
import { RedisServer } from './redis-server.js';
import { clusterClient, startRedisCluster, type LocalRedisCluster } from './redis-cluster.js';

/**
 * The Redis a shared integration suite runs on: one redis-server, or a local Redis Cluster of 3
 * masters and 3 replicas. A suite file starts `startTestRedis()`; a second file runs the same
 * suite on the cluster by calling `runSuitesOn('cluster')` and then importing it (one suite,
 * every Redis setup, the same assertions).
 */
export type RedisKind = 'single' | 'cluster';

let selected: RedisKind = 'single';

/** The Redis setup of the suites imported after this call (in this test file). */
export function runSuitesOn(kind: RedisKind): void {
  selected = kind;
}

/** The setup the current file's suites run on. */
export const suiteRedis = (): RedisKind => selected;

export interface TestRedis {
  kind: RedisKind;
  /** REDIS_URL or REDIS_CLUSTER_NODES, for every Switchboard process. */
  env: Record<string, string>;
  /** Where an engine of the test's own (a publisher, a reader) finds this Redis: `createEngine(redis.target, logger)`. */
  target: EngineTarget;
  /** A client for assertions (a cluster client on the cluster); the caller disconnects it. */
  client(): Redis | Cluster;
  /** The ingest stream that entries for `channel` go to (one stream on one Redis; a partition's on the cluster). */
  ingestStream(channel: string): string;
  /** Where a state key (`sb:logs:history:<app>`, `sb:job:<id>:owner`, ...) is stored: under its channel's tag on the cluster. */
  stateKey(key: string): string;
  /** The cluster itself (kill a master, find a key's shard), on the cluster only. */
  cluster: LocalRedisCluster | undefined;
  stop(): Promise<void>;
}

export async function startTestRedis(kind: RedisKind = selected): Promise<TestRedis> {
  if (kind === 'single') {
    const server = await RedisServer.start();
    return {
      kind,
      env: { REDIS_URL: server.url },
      target: { redisUrl: server.url },
      client: () => server.client(),
      ingestStream: () => INGEST_STREAM,
      stateKey: (key) => key,
      cluster: undefined,
      stop: () => server.stop(),
    };
  }
  const cluster = await startRedisCluster();
  // The processes run with the default partition count, so the layout is the default one.
  const topology = clusterTopology(DEFAULT_INGEST_PARTITIONS);
  return {
    kind,
    env: { REDIS_CLUSTER_NODES: cluster.nodes },
    target: {
      redisClusterNodes: cluster.nodes.split(',').map((node) => {
        const at = node.lastIndexOf(':');
        return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
      }),
    },
    client: () => clusterClient(cluster),
    ingestStream: (channel) => topology.ingestStream(topology.partitionOf(channel)),
    stateKey: (key) => topology.stateKey(key),
    cluster,
    stop: () => cluster.stop(),
  };
}
