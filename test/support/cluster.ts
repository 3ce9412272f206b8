import { NodeProcess } from './node-process.js';
import { RedisServer } from './redis-server.js';
import { startTestRedis, type TestRedis } from './test-redis.js';

/**
 * The usual cluster of the multi-process tests: a private Redis (one server, or a Redis Cluster
 * when the file runs its suites on one), two gateways and a worker.
 */
export interface TwoGatewayCluster {
  redis: TestRedis;
  gatewayA: NodeProcess;
  gatewayB: NodeProcess;
  worker: NodeProcess;
  /** Kills every process (SIGKILL: tests do not wait for drains) and Redis. */
  stop(): Promise<void>;
}

/** `env` gets the variables that point a process at the Redis (REDIS_URL or REDIS_CLUSTER_NODES). */
export async function startTwoGatewayCluster(env: (redisEnv: Record<string, string>) => Record<string, string>): Promise<TwoGatewayCluster> {
  const redis = await startTestRedis();
  const nodeEnv = env(redis.env);
  const [gatewayA, gatewayB, worker] = await Promise.all([
    NodeProcess.start('gateway', nodeEnv),
    NodeProcess.start('gateway', nodeEnv),
    NodeProcess.start('worker', nodeEnv),
  ]);
  return {
    redis,
    gatewayA,
    gatewayB,
    worker,
    async stop() {
      await Promise.all([gatewayA, gatewayB, worker].map((n) => n.stop('SIGKILL')));
      await redis.stop();
    },
  };
}

/** The worker tests' cluster: a private redis-server, one gateway and two workers. */
export interface GatewayAndWorkers {
  redis: RedisServer;
  gateway: NodeProcess;
  workers: NodeProcess[];
  /** Kills every process (SIGKILL) and Redis. */
  stop(): Promise<void>;
}

export async function startGatewayAndWorkers(env: Record<string, string>): Promise<GatewayAndWorkers> {
  const redis = await RedisServer.start();
  const nodeEnv = { REDIS_URL: redis.url, ...env };
  const [gateway, ...workers] = await Promise.all([
    NodeProcess.start('gateway', nodeEnv),
    NodeProcess.start('worker', nodeEnv),
    NodeProcess.start('worker', nodeEnv),
  ]);
  return {
    redis,
    gateway,
    workers,
    async stop() {
      await Promise.all([gateway, ...workers].map((n) => n?.stop('SIGKILL')));
      await redis.stop();
    },
  };
}
