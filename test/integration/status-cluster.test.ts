import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INGEST_PARTITIONS } from '@switchboard/engine';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { runSuitesOn } from '../support/test-redis.js';
import { waitFor } from '../support/wait.js';

/** `GET /api/status` on a Redis Cluster (3 masters, 3 replicas): every node's role, every partition's backlog. */
runSuitesOn('cluster');

interface Status {
  ingest: { partitions: { pending: number; lag: number | null }[] };
  leader: string | null;
  redis: { address: string; role: string }[];
}

let stack: TwoGatewayCluster;

beforeAll(async () => {
  stack = await startTwoGatewayCluster((redisEnv) => ({ ...redisEnv, LOG_LEVEL: 'warn', LOG_METRICS_INTERVAL_MS: '500', HEARTBEAT_INTERVAL_MS: '500' }));
});

afterAll(async () => {
  await stack?.stop();
});

describe('status route on a Redis Cluster', () => {
  it('names each Redis node with its role and gives the backlog of every ingest partition', async () => {
    const roles = (s: Status) => s.redis.map((n) => n.role).sort();
    const status = await waitFor(
      async () => {
        const s = await stack.gatewayA.json<Status>('/api/status');
        return s.leader !== null && s.redis.length === 6 ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'six Redis nodes and a leader' },
    );
    expect(roles(status)).toEqual(['master', 'master', 'master', 'slave', 'slave', 'slave']);
    expect(new Set(status.redis.map((n) => n.address)).size).toBe(6);
    expect(status.ingest.partitions).toHaveLength(DEFAULT_INGEST_PARTITIONS);
    // Every gateway answers the same cluster-wide figures.
    const other = await stack.gatewayB.json<Status>('/api/status');
    expect(other.ingest.partitions).toHaveLength(DEFAULT_INGEST_PARTITIONS);
    expect(roles(other)).toEqual(roles(status));
  });
});
