/** Types of scripts/redis-cluster.mjs (a local Redis Cluster for tests and trying things out). */
export interface ClusterMaster {
  port: number;
  id: string;
  /** Inclusive slot ranges. */
  slots: [number, number][];
  replicas: number[];
}

export declare class LocalRedisCluster {
  readonly dir: string;
  readonly ports: number[];
  /** `host:port,...` of every node, as REDIS_CLUSTER_NODES takes it. */
  readonly nodes: string;
  static start(options?: { masters?: number; replicas?: number }): Promise<LocalRedisCluster>;
  startNode(port: number): Promise<void>;
  waitHealthy(options?: { replicas?: number; timeoutMs?: number }): Promise<void>;
  runningPorts(): number[];
  masters(): Promise<ClusterMaster[]>;
  keySlot(key: string): Promise<number>;
  masterOfSlot(slot: number): Promise<number>;
  masterOfKey(key: string): Promise<number>;
  killMaster(port: number, timeoutMs?: number): Promise<number>;
  killNode(port: number): Promise<void>;
  restartNode(port: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}
