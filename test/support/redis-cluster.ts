import { Cluster, Redis } from 'ioredis';
import { LocalRedisCluster } from '../../scripts/redis-cluster.mjs';

export { LocalRedisCluster, type ClusterMaster } from '../../scripts/redis-cluster.mjs';

/** Starts a real local Redis Cluster: 3 masters + 3 replicas on free ports (stop it after). */
export const startRedisCluster = (): Promise<LocalRedisCluster> => LocalRedisCluster.start();

/** A cluster client for assertions; the caller disconnects it. */
export function clusterClient(cluster: LocalRedisCluster): Cluster {
  const [first] = cluster.runningPorts();
  const client = new Cluster([{ host: '127.0.0.1', port: first ?? cluster.ports[0] ?? 0 }], { lazyConnect: false });
  client.on('error', () => undefined);
  return client;
}

/** A plain client to one node (PUBSUB SHARDCHANNELS, INFO ...); the caller disconnects it. */
export function nodeClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}
