#!/usr/bin/env node
/**
 * Redis alone, as Switchboard uses it for many channels: `npm run bench:channels -- --pubsub`
 * runs this instead of the end-to-end scenario. Two subscriber connections (standing for two
 * gateways) each subscribe to every one of `--apps` channels (SUBSCRIBE on one Redis, SSUBSCRIBE
 * on the cluster, one connection per shard); publishers pipeline PUBLISH / SPUBLISH of frame-sized
 * payloads round robin over the channels for `--seconds`. Measured per master: CPU, publishes per
 * second, output bytes; and deliveries per second at the subscribers. This is the ceiling of the
 * pub/sub layer on this machine, without gateways or workers competing for the cores.
 */
import { Cluster, Redis } from 'ioredis';
import { sampleShard, shardFigures, startBenchRedis, type ShardFigures } from './cluster-shards.js';

export interface PubsubResult {
  mode: 'single' | 'cluster';
  channels: number;
  subscribers: number;
  payloadBytes: number;
  publishesPerSecond: number;
  deliveriesPerSecond: number;
  shards: ShardFigures[];
}

/** Channel names shaped as Switchboard's per-app log channels (hash tag = the channel). */
export const appChannel = (app: number): string => `sb:{ch:logs:app:bench-app-${app}}`;

export async function runPubsub(mode: 'single' | 'cluster', apps: number, seconds: number, payloadBytes = 300): Promise<PubsubResult> {
  const redis = await startBenchRedis(mode);
  const clients: (Redis | Cluster)[] = [];
  try {
    const [seed] = await redis.masters();
    const channels = Array.from({ length: apps }, (_, i) => appChannel(i));
    let delivered = 0;
    const SUBSCRIBERS = 2;
    for (let s = 0; s < SUBSCRIBERS; s++) {
      if (mode === 'single') {
        const sub = new Redis({ host: '127.0.0.1', port: seed! });
        sub.on('message', () => delivered++);
        await sub.subscribe(...channels);
        clients.push(sub);
      } else {
        const sub = new Cluster([{ host: '127.0.0.1', port: seed! }], { shardedSubscribers: true });
        sub.on('smessage', () => delivered++);
        for (const channel of channels) await sub.ssubscribe(channel);
        clients.push(sub);
      }
    }
    // Auto-pipelining batches the publishes per connection (per master on the cluster).
    const publisher =
      mode === 'single'
        ? new Redis({ host: '127.0.0.1', port: seed!, enableAutoPipelining: true })
        : new Cluster([{ host: '127.0.0.1', port: seed! }], { enableAutoPipelining: true });
    clients.push(publisher);
    const payload = 'x'.repeat(payloadBytes);
    const masters = await redis.masters();
    const before = await Promise.all(masters.map(sampleShard));
    const started = performance.now();
    let published = 0;
    let next = 0;
    const PIPELINE = 64;
    const loop = async () => {
      while (performance.now() - started < seconds * 1000) {
        const sent: Promise<unknown>[] = [];
        for (let i = 0; i < PIPELINE; i++) {
          const channel = channels[next++ % channels.length]!;
          sent.push(mode === 'single' ? publisher.publish(channel, payload) : publisher.spublish(channel, payload));
        }
        await Promise.all(sent);
        published += PIPELINE;
      }
    };
    await Promise.all([loop(), loop(), loop(), loop()]);
    const elapsed = (performance.now() - started) / 1000;
    const after = await Promise.all(masters.map(sampleShard));
    return {
      mode,
      channels: apps,
      subscribers: SUBSCRIBERS,
      payloadBytes,
      publishesPerSecond: Math.round(published / elapsed),
      deliveriesPerSecond: Math.round(delivered / elapsed),
      shards: before.map((b, i) => shardFigures(b, after[i]!)),
    };
  } finally {
    for (const c of clients) c.disconnect();
    await redis.stop();
  }
}
