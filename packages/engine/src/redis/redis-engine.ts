import type { Logger } from 'pino';
import { Cluster } from 'ioredis';
import { createEpochSource } from '../channel.js';
import {
  DEFAULT_HISTORY_LIMITS,
  type AppendOnceResult,
  type ChannelHandler,
  type ChannelPosition,
  type Commit,
  type CommitOutcome,
  type CommitResult,
  type Engine,
  type EngineHealth,
  type HistoryLimits,
  type HistoryRequest,
  type HistoryResult,
  type IngestBacklog,
  type IngestOnce,
  type IntakeForward,
  type StoreRead,
  type StreamEntry,
  type StringRead,
  type RedisNodeRole,
  type TakeOver,
} from '../engine.js';
import { RedisChannels } from './channels.js';
import { defineBatchCommitScript } from './commit/batch.js';
import { defineCommitScript } from './commit/run.js';
import { connectionFactory, quit, type Client, type ClusterNode } from './connections.js';
import { ConsumerGroups } from './groups.js';
import { RedisIngest } from './ingest.js';
import { RedisIntake } from './intake.js';
import type { IngestReader } from './ingest-readers.js';
import { RedisDeadLetters } from './dead-letters.js';
import { RedisLeases } from './leases.js';
import { clusterMode, singleMode, type Mode, type SlotsWatch } from './mode.js';
import { RedisPresence } from './presence.js';
import { PubSub } from './pubsub.js';
import { defineAppendOnceScript } from './scripts/append-once.js';
import { defineClusterAppendScript } from './scripts/cluster-append.js';
import { defineHistoryScript } from './scripts/history.js';
import { defineLeaseScripts } from './scripts/lease.js';
import { definePartitionReadScript } from './scripts/partition-read.js';
import { definePositionScript } from './scripts/position.js';
import { defineTakeOverScript } from './scripts/take-over.js';
import { RedisStore } from './store.js';
import type { ChannelNames, Topology } from './topology.js';

export { createClusterClient, createRedisClient, type ClusterNode } from './connections.js';

export interface RedisEngineOptions {
  /** One Redis (`redis://...`); or `cluster`. */
  url?: string;
  /** A Redis Cluster: seed nodes, and the number of ingest partitions (16 when omitted). */
  cluster?: { nodes: ClusterNode[]; partitions?: number };
  logger: Logger;
  /** Dead-letter stream length cap (approximate). */
  deadLetterMaxLen?: number;
  /** How much history each channel keeps. */
  history?: HistoryLimits;
}

/** Ingest partitions on a Redis Cluster when not configured. */
export const DEFAULT_INGEST_PARTITIONS = 16;

/**
 * The Redis engine: streams with a consumer group for ingest, pub/sub for fan-out, plain keys
 * (HyperLogLog, counters, sorted sets) for state, Lua for the atomic commit and leases.
 *
 * On one Redis there is one ingest stream and every commit is one script. On a Redis Cluster
 * (`options.cluster`) the ingest is split into partitions (a stream and a consumer group each,
 * under a hash tag spread over the slots), a channel and the state written with it live under
 * its partition's tag, frames go over sharded pub/sub, and a commit whose keys still span
 * several slots runs as one script per slot (see ./commit).
 *
 * This class only puts the parts together: connections (./connections), what differs between
 * one Redis and a cluster (./mode), the ingest queue (./ingest), the store (./store), channels
 * and subscriptions (./channels, ./pubsub) and leases (./leases).
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  private readonly mode: Mode;
  private readonly topology: Topology;
  private readonly main: Client;
  private readonly groups: ConsumerGroups;
  private readonly pubsub: PubSub;
  private readonly reader: IngestReader;
  private readonly ingest: RedisIngest;
  private readonly intake: RedisIntake;
  private readonly store: RedisStore;
  private readonly channels: RedisChannels;
  private readonly leases: RedisLeases;
  readonly deadLetters: RedisDeadLetters;
  readonly presence: RedisPresence;
  private slots: SlotsWatch | undefined;
  private closed = false;

  constructor(options: RedisEngineOptions) {
    const { url, cluster, logger } = options;
    if ((url === undefined) === (cluster === undefined)) {
      throw new TypeError('RedisEngine: give either url (one Redis) or cluster (a Redis Cluster)');
    }
    const connect = connectionFactory(cluster === undefined ? { url: url ?? '' } : { cluster: cluster.nodes }, logger, () => this.closed);
    this.mode = cluster === undefined ? singleMode : clusterMode(cluster.partitions ?? DEFAULT_INGEST_PARTITIONS);
    this.topology = this.mode.topology;
    this.main = connect('command', {
      // Fail fast while Redis is away: ingest answers 503 instead of hanging, and the adapter's
      // publish rejects quickly (docs/architecture.md#libraries-and-their-pitfalls).
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
    });
    const scripts = [
      defineCommitScript, defineBatchCommitScript, definePositionScript, defineHistoryScript, defineTakeOverScript,
      defineAppendOnceScript, defineClusterAppendScript, definePartitionReadScript, defineLeaseScripts,
    ];
    for (const define of scripts) define(this.main);

    const epoch = createEpochSource();
    const { main, mode } = this;
    this.groups = new ConsumerGroups(main, this.topology, logger);
    this.pubsub = new PubSub(mode, connect, logger);
    this.reader = mode.createReader({ main, connect, topology: this.topology, groups: this.groups, pubsub: this.pubsub, logger });
    const deadLetterMaxLen = options.deadLetterMaxLen ?? 10_000;
    this.ingest = new RedisIngest({ main, mode, groups: this.groups, reader: this.reader, deadLetterMaxLen });
    this.intake = new RedisIntake({ main, connect, mode, groups: this.groups, deadLetterMaxLen });
    const history = options.history ?? DEFAULT_HISTORY_LIMITS;
    this.store = new RedisStore({ main, topology: this.topology, history, batch: mode.commitBatch, epoch });
    this.channels = new RedisChannels({ main, mode, pubsub: this.pubsub, epoch, history, logger });
    this.leases = new RedisLeases(main);
    this.deadLetters = new RedisDeadLetters(main, options.deadLetterMaxLen);
    this.presence = new RedisPresence(main, this.topology);
  }

  /** How many ingest partitions (streams) there are: 1 on one Redis. */
  get partitions(): number {
    return this.topology.partitions;
  }

  /** The ingest stream of a partition (`sb:ingest` on one Redis). */
  ingestStream(partition: number): string {
    return this.topology.ingestStream(partition);
  }

  /** The partition a channel (or an ingest route) belongs to. */
  partitionOf(channel: string): number {
    return this.topology.partitionOf(channel);
  }

  /** The keys and pub/sub name of a channel, as this engine stores it. */
  channelNames(channel: string): ChannelNames {
    return this.topology.channel(channel);
  }

  /** Where a state key is stored. */
  stateKey(key: string): string {
    return this.topology.stateKey(key);
  }

  // Lifecycle

  health(): EngineHealth {
    const ready = this.main.status === 'ready' && (this.slots?.served() ?? true) && this.pubsub.healthy();
    return ready ? 'up' : 'down';
  }

  async connect(): Promise<void> {
    await this.main.connect();
    for (const partition of this.groups.partitions()) await this.groups.ensure(partition);
    await this.intake.ensure();
    this.slots = await this.mode.watch(this.main);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.slots?.stop();
    this.reader.close();
    this.intake.close();
    await Promise.all([quit(this.main), this.pubsub.close()]);
  }

  async redisNodes(): Promise<RedisNodeRole[]> {
    const servers = this.main instanceof Cluster ? this.main.nodes('all') : [this.main];
    return Promise.all(
      servers.map(async (server) => {
        const role = /^role:(\w+)/m.exec(await server.info('replication'))?.[1] ?? 'unknown';
        return { address: `${server.options.host ?? ''}:${server.options.port ?? ''}`, role };
      }),
    );
  }

  // IngestQueue

  appendIngest(fields: Record<string, string>, route?: string): Promise<string> {
    return this.ingest.appendIngest(fields, route);
  }
  appendIngestOnce(fields: Record<string, string>, once: IngestOnce, route?: string): Promise<AppendOnceResult> {
    return this.ingest.appendIngestOnce(fields, once, route);
  }
  readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    return this.ingest.readIngest(consumer, count, blockMs);
  }
  claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    return this.ingest.claimStaleIngest(consumer, minIdleMs, count);
  }
  async announceConsumer(consumer: string, ttlMs: number): Promise<void> {
    await Promise.all([this.ingest.announceConsumer(consumer, ttlMs), this.intake.announce(consumer, ttlMs)]);
  }
  async withdrawConsumer(consumer: string): Promise<void> {
    await Promise.all([this.ingest.withdrawConsumer(consumer), this.intake.withdraw(consumer)]);
  }
  takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver> {
    return this.ingest.takeOverDeadConsumers(consumer, count);
  }
  deadLetter(entry: StreamEntry, reason: string): Promise<void> {
    return this.ingest.deadLetter(entry, reason);
  }
  ingestBacklog(): Promise<IngestBacklog> {
    return this.ingest.ingestBacklog();
  }

  async trimIngest(): Promise<void> {
    await Promise.all([this.ingest.trimIngest(), this.intake.trim()]);
  }

  // IntakeQueue (a Redis Cluster: producers' direct appends to sb:ingest, drained into the partitions)

  get hasIntake(): boolean {
    return this.intake.enabled;
  }
  forwardIntake(consumer: string, count: number, blockMs: number): Promise<IntakeForward> {
    return this.intake.forward(consumer, count, blockMs);
  }
  recoverIntake(consumer: string, minIdleMs: number, count: number): Promise<IntakeForward> {
    return this.intake.recover(consumer, minIdleMs, count);
  }
  intakeBacklog(): Promise<{ pending: number; lag: number | null } | undefined> {
    return this.intake.backlog();
  }

  // Store

  commit(commit: Commit): Promise<CommitResult> {
    return this.store.commit(commit);
  }
  commitBatch(commits: Commit[]): Promise<CommitOutcome[]> {
    return this.store.commitBatch(commits);
  }
  read(reads: StoreRead[]): Promise<number[]> {
    return this.store.read(reads);
  }
  readStrings(reads: StringRead[]): Promise<string[][]> {
    return this.store.readStrings(reads);
  }

  // Channels

  subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    return this.channels.subscribe(channel, handler);
  }
  unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
    return this.channels.unsubscribe(channel, handler);
  }
  position(channel: string): Promise<ChannelPosition> {
    return this.channels.position(channel);
  }
  history(channel: string, request: HistoryRequest): Promise<HistoryResult> {
    return this.channels.history(channel, request);
  }
  onSubscriptionsRestored(listener: () => void): () => void {
    return this.channels.onSubscriptionsRestored(listener);
  }
  probeSubscription(timeoutMs: number): Promise<boolean> {
    return this.channels.probeSubscription(timeoutMs);
  }

  // Leases

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.leases.acquireLease(name, holder, ttlMs);
  }
  releaseLease(name: string, holder: string): Promise<void> {
    return this.leases.releaseLease(name, holder);
  }
  leaseHolder(name: string): Promise<string | undefined> {
    return this.leases.leaseHolder(name);
  }
}
