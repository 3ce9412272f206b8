import { NodeProcess } from './node-process.js';
import { RedisServer } from './redis-server.js';

/** The usual cluster of the multi-process tests: a private Redis, two gateways and a worker. */
export interface TwoGatewayCluster {
  redis: RedisServer;
  gatewayA: NodeProcess;
  gatewayB: NodeProcess;
  worker: NodeProcess;
  /** Kills every process (SIGKILL: tests do not wait for drains) and Redis. */
  stop(): Promise<void>;
}

export async function startTwoGatewayCluster(env: (redisUrl: string) => Record<string, string>): Promise<TwoGatewayCluster> {
  const redis = await RedisServer.start();
  const nodeEnv = env(redis.url);
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
