import { Redis } from 'ioredis';
import { LocalRedisCluster } from '../../scripts/redis-cluster.mjs';
import { startRedis } from './lib/proc.js';

/**
 * The Redis behind a many-channel benchmark run: one redis-server, or a local Redis Cluster of 3
 * masters + 3 replicas. Either way the harness can read each master's own counters ("shards":
 * one for a single Redis), which is what the capacity model is built from.
 */
export interface BenchRedis {
  mode: 'single' | 'cluster';
  /** The variables that point every Switchboard role at it. */
  env: Record<string, string>;
  /** Ports of the masters serving slots (the single server's port). */
  masters(): Promise<number[]>;
  stop(): Promise<void>;
}

export async function startBenchRedis(mode: 'single' | 'cluster'): Promise<BenchRedis> {
  if (mode === 'single') {
    const redis = await startRedis();
    const port = Number(new URL(redis.url).port);
    return { mode, env: { REDIS_URL: redis.url }, masters: () => Promise.resolve([port]), stop: () => redis.proc.stop() };
  }
  // The test harness's starter: one way to run a local cluster.
  const cluster = await LocalRedisCluster.start();
  return {
    mode,
    env: { REDIS_CLUSTER_NODES: cluster.nodes },
    masters: async () => (await cluster.masters()).map((m) => m.port),
    stop: () => cluster.stop(),
  };
}

/** One master's counters at one moment. */
export interface ShardSample {
  port: number;
  at: number;
  /** used_cpu_user + used_cpu_sys, seconds. */
  cpuSeconds: number;
  /** Calls per command (`cmdstat_<name>`), lower-case names. */
  calls: Record<string, number>;
  commandsProcessed: number;
  /** Bytes written to clients (total_net_output_bytes). */
  netOutputBytes: number;
  /** Shard channels with subscribers on this node (PUBSUB SHARDCHANNELS), plus classic channels. */
  channels: number;
}

/** `field:value` lines of INFO. */
export function infoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

/** `cmdstat_publish:calls=12,usec=...` → { publish: 12 }. */
export function commandCalls(info: Map<string, string>): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const [key, value] of info) {
    if (!key.startsWith('cmdstat_')) continue;
    const match = /(?:^|,)calls=(\d+)/.exec(value);
    if (match) calls[key.slice('cmdstat_'.length).toLowerCase()] = Number(match[1]);
  }
  return calls;
}

export async function sampleShard(port: number): Promise<ShardSample> {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = infoFields(await client.info('everything'));
    const shardChannels = (await client.call('PUBSUB', 'SHARDCHANNELS').catch(() => [])) as unknown[];
    const classicChannels = (await client.call('PUBSUB', 'CHANNELS')) as unknown[];
    return {
      port,
      at: performance.now(),
      cpuSeconds: Number(info.get('used_cpu_user') ?? 0) + Number(info.get('used_cpu_sys') ?? 0),
      calls: commandCalls(info),
      commandsProcessed: Number(info.get('total_commands_processed') ?? 0),
      netOutputBytes: Number(info.get('total_net_output_bytes') ?? 0),
      channels: shardChannels.length + classicChannels.length,
    };
  } finally {
    client.disconnect();
  }
}

/** What one master did between two samples. */
export interface ShardFigures {
  port: number;
  /** Redis CPU, % of one core. */
  cpuPercent: number;
  /** PUBLISH + SPUBLISH calls per second (those a script makes included). */
  publishesPerSecond: number;
  /**
   * Redis CPU per publish, µs: everything the shard did (scripts, stream reads, replication,
   * writing to subscribers) divided by its publishes. The cost the capacity model scales.
   */
  cpuMicrosPerPublish: number;
  /** Script calls (EVALSHA/EVAL/FCALL) per second: the worker's atomic commits. */
  scriptsPerSecond: number;
  commandsPerSecond: number;
  /** Bytes per second written to clients (subscribers and callers). */
  outputBytesPerSecond: number;
  /** Channels with subscribers on this node at the end. */
  channels: number;
}

const delta = (after: Record<string, number>, before: Record<string, number>, names: string[]) =>
  names.reduce((n, name) => n + (after[name] ?? 0) - (before[name] ?? 0), 0);

export function shardFigures(before: ShardSample, after: ShardSample): ShardFigures {
  const seconds = (after.at - before.at) / 1000;
  const rate = (n: number) => Math.round(n / seconds);
  const cpu = after.cpuSeconds - before.cpuSeconds;
  const publishes = delta(after.calls, before.calls, ['publish', 'spublish']);
  return {
    port: after.port,
    cpuPercent: Math.round((cpu / seconds) * 1000) / 10,
    publishesPerSecond: rate(publishes),
    cpuMicrosPerPublish: publishes === 0 ? 0 : Math.round((cpu * 1e6 * 100) / publishes) / 100,
    scriptsPerSecond: rate(delta(after.calls, before.calls, ['evalsha', 'eval', 'fcall', 'evalsha_ro', 'fcall_ro'])),
    commandsPerSecond: rate(after.commandsProcessed - before.commandsProcessed),
    outputBytesPerSecond: rate(after.netOutputBytes - before.netOutputBytes),
    channels: after.channels,
  };
}
