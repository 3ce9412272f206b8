import { Cluster, Redis, type ClusterOptions, type RedisOptions, type Result } from 'ioredis';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { INGEST_DEAD_LETTER_STREAM, INGEST_GROUP, ingestRoute, leaseKey, parseJson } from '@switchboard/protocol';
import { createEpochSource, decodeChannelPayload, historyResult, isValidSince } from '../channel.js';
import {
  DEFAULT_HISTORY_LIMITS,
  type AppendOnceResult,
  type ChannelHandler,
  type ChannelMessage,
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
  type StoreRead,
  type StreamEntry,
  type StringRead,
  type TakeOver,
} from '../engine.js';
import { clusterTopology, entryAddress, entryId, singleTopology, type Topology } from './topology.js';
import { commitBatchWith, defineBatchCommitScript } from './commit/batch.js';
import { commitWith, defineCommitScript } from './commit/run.js';
import { PartitionedReads } from './partitioned-reads.js';
import {
  APPEND_ONCE_SCRIPT,
  CLUSTER_APPEND_SCRIPT,
  PARTITION_READ_SCRIPT,
  HISTORY_SCRIPT,
  LEASE_ACQUIRE_SCRIPT,
  LEASE_RELEASE_SCRIPT,
  POSITION_SCRIPT,
  TAKE_OVER_SCRIPT,
} from './scripts.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbPosition(position: string, history: string, epoch: string): Result<[string, string], Context>;
    sbHistory(
      position: string, history: string, epoch: string, clientEpoch: string, since: string, from: string,
    ): Result<[string, string, RawEntry[]?], Context>;
    sbTakeOver(
      stream: string, alive: string, group: string, dead: string, taker: string, count: number,
    ): Result<[RawEntry[], (string | number)[]], Context>;
    sbAppendOnce(stream: string, marker: string, ...args: (string | number)[]): Result<[number, string], Context>;
    sbClusterAppend(...args: (string | number)[]): Result<[number, string], Context>;
    sbPartitionRead(stream: string, wake: string, group: string, consumer: string, count: number): Result<[string, RawEntry[]][] | null, Context>;
    sbLeaseAcquire(key: string, holder: string, ttlMs: number): Result<number, Context>;
    sbLeaseRelease(key: string, holder: string): Result<number, Context>;
  }
}

/** One Redis Cluster node to start from (the client discovers the others). */
export interface ClusterNode {
  host: string;
  port: number;
}

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

type RawEntry = [id: string, fields: string[] | null];

/** A connection to one Redis or to a Redis Cluster: the engine issues the same commands to both. */
type Client = Redis | Cluster;

/** Ingest partitions on a Redis Cluster when not configured. */
export const DEFAULT_INGEST_PARTITIONS = 16;

/**
 * How often a cluster engine asks whether every slot is served. The cluster reports a failed
 * master for well under a second before its replica takes over: a slower check would miss it.
 */
const SLOTS_CHECK_MS = 250;

/**
 * An ioredis client with Switchboard's conventions: connects on demand, retries with capped
 * backoff until told the owner closed, and logs each distinct connection error once.
 */
export function createRedisClient(
  url: string,
  logger: Logger,
  connection: string,
  { isClosed = () => false, ...extra }: RedisOptions & { isClosed?: () => boolean } = {},
): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    connectionName: `switchboard-${connection}`,
    retryStrategy: (attempt) => (isClosed() ? null : Math.min(attempt * 100, 2_000)),
    ...extra,
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect attempt: log each distinct one once.
    if (err.message !== lastError) logger.warn({ err, connection }, 'redis connection error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError !== '') logger.info({ connection }, 'redis connection restored');
    lastError = '';
  });
  return client;
}

/**
 * An ioredis Cluster client with the same conventions as `createRedisClient`; `redisOptions` go
 * to every node connection. MOVED/ASK redirections and NOSCRIPT on a promoted master are handled
 * by ioredis (defined commands fall back from EVALSHA to EVAL).
 */
export function createClusterClient(
  nodes: ClusterNode[],
  logger: Logger,
  connection: string,
  { isClosed = () => false, redisOptions = {}, ...extra }: ClusterOptions & { isClosed?: () => boolean } = {},
): Cluster {
  const client = new Cluster(nodes, {
    lazyConnect: true,
    clusterRetryStrategy: (attempt) => (isClosed() ? null : Math.min(attempt * 100, 2_000)),
    // A failover takes a few seconds: keep retrying a slot without a master meanwhile.
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    ...extra,
    redisOptions: { connectionName: `switchboard-${connection}`, ...redisOptions },
  });
  let lastError = '';
  const report = (err: Error) => {
    if (err.message !== lastError) logger.warn({ err, connection }, 'redis cluster connection error');
    lastError = err.message;
  };
  client.on('error', report);
  client.on('node error', report);
  client.on('ready', () => {
    if (lastError !== '') logger.info({ connection }, 'redis cluster connection restored');
    lastError = '';
  });
  return client;
}

/** Parses a JSON body for routing; undefined when it is not JSON. */
const parsedBody = (body: string | undefined): unknown => {
  if (body === undefined) return undefined;
  const json = parseJson(body);
  return json.ok ? json.value : undefined;
};

const toFields = (flat: string[]): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
};

const toMessages = (epoch: string, entries: RawEntry[]): ChannelMessage[] =>
  entries.map(([id, flat]) => ({ epoch, offset: Number.parseInt(id, 10), frame: flat?.[1] ?? '' }));

/**
 * The Redis engine: streams with a consumer group for ingest, pub/sub for fan-out, plain keys
 * (HyperLogLog, counters, sorted sets) for state, Lua for the atomic commit and leases.
 *
 * On one Redis there is one ingest stream and every commit is one script. On a Redis Cluster
 * (`options.cluster`) the ingest is split into partitions (a stream and a consumer group each,
 * under a hash tag spread over the slots), a channel and the state written with it live under
 * its partition's tag, frames go over sharded pub/sub, and a commit whose keys still span
 * several slots runs as one script per slot: each guarded by a marker so it applies once, the
 * entry's own slot last, so the entry is acknowledged only when every step is done.
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  private readonly main: Client;
  private subscriber: Client | undefined;
  /** One Redis: the blocking reader of the stream (a blocking read holds its connection). */
  private blockingReader: Client | undefined;
  private readonly topology: Topology;
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  /** Pub/sub name → channel (they differ on a cluster, where names carry the partition tag). */
  private readonly channelOf = new Map<string, string>();
  private readonly restoredListeners = new Set<() => void>();
  private readonly limits: HistoryLimits;
  private readonly nextEpoch = createEpochSource();
  /** This engine's probe channels (one per partition on a cluster), and the probes on their way round. */
  private readonly probeToken = randomBytes(8).toString('hex');
  private readonly probeChannels = new Map<string, number>();
  private readonly probes = new Map<string, (partition: number) => void>();
  private probeNonce = 0;
  private probeSubscribed: Promise<unknown> | undefined;
  /** Cluster: the partitions' reads, woken by appends through the wake-up channels (name → partition). */
  private readonly partitionedReads: PartitionedReads;
  private readonly wakeChannels = new Map<string, number>();
  private wakeSubscribed: Promise<void> | undefined;
  /** Cluster: whether every slot is served (CLUSTER INFO), checked every SLOTS_CHECK_MS. */
  private slotsServed = true;
  private slotsTimer: NodeJS.Timeout | undefined;
  private malformedMessages = 0;
  private closed = false;

  constructor(private readonly options: RedisEngineOptions) {
    if ((options.url === undefined) === (options.cluster === undefined)) {
      throw new TypeError('RedisEngine: give either url (one Redis) or cluster (a Redis Cluster)');
    }
    this.topology = options.cluster === undefined ? singleTopology : clusterTopology(options.cluster.partitions ?? DEFAULT_INGEST_PARTITIONS);
    this.main = this.createClient('command', {
      // Fail fast while Redis is away: ingest answers 503 instead of hanging, and the adapter's
      // publish rejects quickly (docs/architecture.md#libraries-and-their-pitfalls).
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
    });
    this.limits = options.history ?? DEFAULT_HISTORY_LIMITS;
    defineCommitScript(this.main);
    defineBatchCommitScript(this.main);
    this.main.defineCommand('sbPosition', { numberOfKeys: 2, lua: POSITION_SCRIPT });
    this.main.defineCommand('sbHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT });
    this.main.defineCommand('sbTakeOver', { numberOfKeys: 2, lua: TAKE_OVER_SCRIPT });
    this.main.defineCommand('sbAppendOnce', { numberOfKeys: 2, lua: APPEND_ONCE_SCRIPT });
    this.main.defineCommand('sbClusterAppend', { lua: CLUSTER_APPEND_SCRIPT });
    this.main.defineCommand('sbPartitionRead', { numberOfKeys: 2, lua: PARTITION_READ_SCRIPT });
    this.partitionedReads = new PartitionedReads(this.topology.partitions, (partition, consumer, count) =>
      this.readPartition(partition, consumer, count, 0),
    );
    for (let partition = 0; partition < this.topology.partitions; partition += 1) {
      this.wakeChannels.set(this.topology.ingestWake(partition), partition);
    }
    this.main.defineCommand('sbLeaseAcquire', { numberOfKeys: 1, lua: LEASE_ACQUIRE_SCRIPT });
    this.main.defineCommand('sbLeaseRelease', { numberOfKeys: 1, lua: LEASE_RELEASE_SCRIPT });
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
  channelNames(channel: string): { position: string; history: string; pubsub: string } {
    return this.topology.channel(channel);
  }

  /** Where a state key is stored. */
  stateKey(key: string): string {
    return this.topology.stateKey(key);
  }

  /**
   * A client with Switchboard's conventions, to one Redis or to the cluster. `extra` applies to
   * every connection; `sharded` gives a cluster client its sharded subscribers.
   */
  private createClient(connection: string, extra: RedisOptions = {}, sharded = false): Client {
    const isClosed = () => this.closed;
    const { url, cluster, logger } = this.options;
    if (cluster === undefined) return createRedisClient(url ?? '', logger, connection, { ...extra, enableAutoPipelining: true, isClosed });
    // No auto-pipelining on a cluster: ioredis refuses a batch whose keys span slots of
    // different nodes while the slot map changes (a failover), failing unrelated commands.
    return createClusterClient(cluster.nodes, logger, connection, {
      isClosed,
      shardedSubscribers: sharded,
      redisOptions: extra,
    });
  }

  health(): EngineHealth {
    const ready =
      this.main.status === 'ready' &&
      this.slotsServed &&
      (this.subscriber === undefined || this.subscriber.status === 'ready');
    return ready ? 'up' : 'down';
  }

  async connect(): Promise<void> {
    await this.main.connect();
    for (let partition = 0; partition < this.topology.partitions; partition += 1) await this.ensureGroup(partition);
    if (this.topology.cluster) {
      // While a master is down and before its replica took over, its slots are served by no
      // one: the engine is not healthy then, even though every connection it holds is.
      await this.checkSlots();
      this.slotsTimer = setInterval(() => void this.checkSlots(), SLOTS_CHECK_MS);
      this.slotsTimer.unref();
    }
  }

  private async checkSlots(): Promise<void> {
    try {
      const info = String(await this.main.cluster('INFO'));
      this.slotsServed = /cluster_state:ok/.test(info);
    } catch {
      this.slotsServed = false;
    }
  }

  /**
   * Creates a partition's consumer group at the start of its stream (id 0), so entries added
   * before any worker existed are still delivered. Also used after Redis lost its data (restart
   * without persistence, failover to an empty replica): reads then fail with NOGROUP.
   */
  private async ensureGroup(partition: number): Promise<void> {
    try {
      await this.main.xgroup('CREATE', this.topology.ingestStream(partition), INGEST_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  /** Runs a group command on one partition, recreating its group once if Redis forgot it. */
  private async withGroup<T>(partition: number, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      // NOGROUP, or "no such key" from XINFO when the stream itself is gone.
      if (!(err instanceof Error) || !/NOGROUP|no such key/.test(err.message)) throw err;
      this.options.logger.warn({ partition }, 'ingest consumer group missing (Redis lost its data?): recreating it');
      await this.ensureGroup(partition);
      return command();
    }
  }

  private partitionIndexes(): number[] {
    return Array.from({ length: this.topology.partitions }, (_, partition) => partition);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.slotsTimer);
    this.partitionedReads.close();
    // A blocking read would hold QUIT back until it times out: the reader just disconnects.
    this.blockingReader?.disconnect();
    const clients = [this.main, this.subscriber].filter((c): c is Client => c !== undefined);
    await Promise.all(
      clients.map(async (client) => {
        if (client.status === 'end') return;
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  /** The partition an entry goes to: that of the channel it publishes on (cluster only). */
  private ingestPartition(fields: Record<string, string>, route: string | undefined): number {
    if (!this.topology.cluster) return 0;
    return this.topology.partitionOf(route ?? ingestRoute(fields['kind'] ?? '', () => parsedBody(fields['body'])));
  }

  async appendIngest(fields: Record<string, string>, route?: string): Promise<string> {
    const partition = this.ingestPartition(fields, route);
    if (this.topology.cluster) {
      const [, id] = await this.clusterAppend(partition, fields);
      return entryId(this.topology, partition, id);
    }
    const id = await this.main.xadd(this.topology.ingestStream(partition), '*', ...Object.entries(fields).flat());
    if (id === null) throw new Error('XADD returned no id');
    return entryId(this.topology, partition, id);
  }

  async appendIngestOnce(fields: Record<string, string>, once: IngestOnce, route?: string): Promise<AppendOnceResult> {
    const partition = this.ingestPartition(fields, route);
    const [appended, value] = this.topology.cluster
      ? await this.clusterAppend(partition, fields, once)
      : await this.main.sbAppendOnce(
        this.topology.ingestStream(partition), this.topology.dedupeKey(once.key, partition), once.ttlS, once.value, ...Object.entries(fields).flat(),
      );
    return appended === 1 ? { duplicate: false, streamId: entryId(this.topology, partition, value) } : { duplicate: true, value };
  }

  /** An append to a partition of the cluster, waking its readers (CLUSTER_APPEND_SCRIPT). */
  private clusterAppend(partition: number, fields: Record<string, string>, once?: IngestOnce): Promise<[number, string]> {
    const wake = this.topology.ingestWake(partition);
    const keys = [this.topology.ingestStream(partition), wake, ...(once === undefined ? [] : [this.topology.dedupeKey(once.key, partition)])];
    return this.main.sbClusterAppend(keys.length, ...keys, wake, once?.ttlS ?? 0, once?.value ?? '', ...Object.entries(fields).flat());
  }

  /** One Redis: the blocking reader of the stream, on its own connection. */
  private async reader(): Promise<Client> {
    this.blockingReader ??= this.createClient('blocking', { maxRetriesPerRequest: 1 });
    if (this.blockingReader.status === 'wait') await this.blockingReader.connect();
    return this.blockingReader;
  }

  /**
   * New entries of a partition for `consumer`. One Redis: on the blocking reader, waiting up to
   * `blockMs`. A cluster: without waiting, clearing the partition's wake-up flag in the same step.
   */
  private async readPartition(partition: number, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    const stream = this.topology.ingestStream(partition);
    const reply = await this.withGroup(partition, async (): Promise<[string, RawEntry[]][] | null> => {
      if (this.topology.cluster) return this.main.sbPartitionRead(stream, this.topology.ingestWake(partition), INGEST_GROUP, consumer, count);
      const reader = await this.reader();
      // BLOCK 0 would wait forever: a read that must not wait leaves BLOCK out.
      const reply = blockMs > 0
        ? reader.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>')
        : reader.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'STREAMS', stream, '>');
      return reply as Promise<[string, RawEntry[]][] | null>;
    });
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(([id, flat]) => ({ streamId: entryId(this.topology, partition, id), fields: toFields(flat ?? []), deliveries: 1 }));
  }

  /**
   * One Redis: one blocking read of the stream. A cluster: non-blocking reads of the partitions
   * that appends woke (see PartitionedReads), on the command connection; the wait for a wake-up
   * is the only blocking part, and holds no connection.
   */
  async readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    if (!this.topology.cluster) return this.readPartition(0, consumer, count, blockMs);
    await this.subscribeWakeUps(blockMs);
    return this.partitionedReads.read(consumer, count, blockMs);
  }

  /**
   * Subscribes to every partition's wake-up channel, once; waits for it at most `waitMs` (the
   * reads go on meanwhile: every partition is swept once per block time regardless). A failed
   * subscription is tried again on the next read.
   */
  private async subscribeWakeUps(waitMs: number): Promise<void> {
    this.wakeSubscribed ??= this.subscriberClient()
      .then((subscriber) => this.subscribeNames(subscriber, [...this.wakeChannels.keys()]))
      .catch((err: unknown) => {
        this.wakeSubscribed = undefined;
        this.options.logger.warn({ err }, 'ingest wake-up subscription failed; reading every partition meanwhile');
      });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.wakeSubscribed, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(waitMs, 1))))]);
    clearTimeout(timer);
  }

  async claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const entries: StreamEntry[] = [];
    for (const partition of this.partitionIndexes()) {
      if (entries.length >= count) break;
      entries.push(...(await this.claimStalePartition(partition, consumer, minIdleMs, count - entries.length)));
    }
    return entries;
  }

  private async claimStalePartition(partition: number, consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const stream = this.topology.ingestStream(partition);
    const pending = (await this.withGroup(partition, () =>
      this.main.xpending(stream, INGEST_GROUP, 'IDLE', minIdleMs, '-', '+', count),
    )) as [string, string, number, number][];
    if (pending.length === 0) return [];
    const deliveries = new Map(pending.map(([id, , , times]) => [id, times + 1]));
    const claimed = (await this.main.xclaim(stream, INGEST_GROUP, consumer, minIdleMs, ...pending.map(([id]) => id))) as RawEntry[];
    const entries: StreamEntry[] = [];
    const vanished: string[] = [];
    for (const [id, flat] of claimed) {
      if (flat === null) vanished.push(id);
      else entries.push({ streamId: entryId(this.topology, partition, id), fields: toFields(flat), deliveries: deliveries.get(id) ?? 2 });
    }
    // Entries trimmed away while pending can never be processed: drop them from the PEL.
    if (vanished.length > 0) await this.main.xack(stream, INGEST_GROUP, ...vanished);
    return entries;
  }

  async announceConsumer(consumer: string, ttlMs: number): Promise<void> {
    await Promise.all(this.partitionIndexes().map((p) => this.main.set(this.topology.consumerAliveKey(p, consumer), '1', 'PX', ttlMs)));
  }

  async withdrawConsumer(consumer: string): Promise<void> {
    await Promise.all(this.partitionIndexes().map((p) => this.main.del(this.topology.consumerAliveKey(p, consumer))));
  }

  async takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver> {
    const taken: TakeOver = { consumers: [], entries: [] };
    for (const partition of this.partitionIndexes()) {
      if (taken.entries.length >= count) break;
      const { consumers, entries } = await this.takeOverPartition(partition, consumer, count - taken.entries.length);
      for (const name of consumers) if (!taken.consumers.includes(name)) taken.consumers.push(name);
      taken.entries.push(...entries);
    }
    return taken;
  }

  private async takeOverPartition(partition: number, consumer: string, count: number): Promise<TakeOver> {
    const stream = this.topology.ingestStream(partition);
    const infos = (await this.withGroup(partition, () => this.main.xinfo('CONSUMERS', stream, INGEST_GROUP))) as unknown[][];
    const others = infos.map((flat) => String(flat[flat.indexOf('name') + 1])).filter((name) => name !== consumer);
    if (others.length === 0) return { consumers: [], entries: [] };
    // Most consumers are alive: look their keys up at once, run the script for the rest.
    const alive = await Promise.all(others.map((name) => this.main.exists(this.topology.consumerAliveKey(partition, name))));
    const dead = others.filter((_, i) => alive[i] === 0);
    const taken: TakeOver = { consumers: [], entries: [] };
    for (const name of dead) {
      if (taken.entries.length >= count) break;
      const [claimed, flatDeliveries] = await this.main.sbTakeOver(
        stream, this.topology.consumerAliveKey(partition, name), INGEST_GROUP, name, consumer, count - taken.entries.length,
      );
      if (claimed.length === 0) continue;
      const deliveries = new Map<string, number>();
      for (let i = 0; i + 1 < flatDeliveries.length; i += 2) deliveries.set(String(flatDeliveries[i]), Number(flatDeliveries[i + 1]));
      taken.consumers.push(name);
      for (const [id, flat] of claimed) {
        // Entries trimmed away while pending are dropped from the PEL by XCLAIM (Redis 7).
        if (flat !== null) taken.entries.push({ streamId: entryId(this.topology, partition, id), fields: toFields(flat), deliveries: (deliveries.get(id) ?? 1) + 1 });
      }
    }
    return taken;
  }

  async deadLetter(entry: StreamEntry, reason: string): Promise<void> {
    const { partition, id } = entryAddress(this.topology, entry.streamId);
    const stream = this.topology.ingestStream(partition);
    const copy = [
      INGEST_DEAD_LETTER_STREAM, 'MAXLEN', '~', this.options.deadLetterMaxLen ?? 10_000, '*',
      'reason', reason, 'source_id', entry.streamId, ...Object.entries(entry.fields).flat(),
    ] as const;
    if (!this.topology.cluster) {
      await this.main.multi().xadd(...copy).xack(stream, INGEST_GROUP, id).exec();
      return;
    }
    // One dead-letter stream for every partition, on its own slot: copy first, acknowledge after,
    // so a failure in between copies the entry twice rather than losing it.
    await this.main.xadd(...copy);
    await this.main.xack(stream, INGEST_GROUP, id);
  }

  /** XINFO GROUPS of a partition's stream, for the workers' group: field → value. */
  private async groupInfo(partition: number): Promise<Map<string, unknown> | undefined> {
    const groups = (await this.main.xinfo('GROUPS', this.topology.ingestStream(partition))) as unknown[][];
    for (const flat of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
      if (info.get('name') === INGEST_GROUP) return info;
    }
    return undefined;
  }

  /** Pending and lag summed over the partitions (lag unknown when any partition cannot tell). */
  async ingestBacklog(): Promise<IngestBacklog> {
    const infos = await Promise.all(this.partitionIndexes().map((p) => this.groupInfo(p)));
    let pending = 0;
    let lag: number | null = 0;
    for (const info of infos) {
      pending += Number(info?.get('pending') ?? 0);
      const partitionLag = info?.get('lag');
      lag = lag !== null && typeof partitionLag === 'number' ? lag + partitionLag : null;
    }
    return { pending, lag };
  }

  async trimIngest(): Promise<void> {
    for (const partition of this.partitionIndexes()) {
      const stream = this.topology.ingestStream(partition);
      const summary = (await this.main.xpending(stream, INGEST_GROUP)) as [number, string | null, string | null, unknown];
      let keepFrom: string | undefined = summary[0] > 0 && summary[1] ? summary[1] : undefined;
      if (keepFrom === undefined) {
        const lastDelivered = (await this.groupInfo(partition))?.get('last-delivered-id');
        if (typeof lastDelivered === 'string') keepFrom = lastDelivered;
      }
      if (keepFrom !== undefined && keepFrom !== '0-0') await this.main.xtrim(stream, 'MINID', '~', keepFrom);
    }
  }

  commit(commit: Commit): Promise<CommitResult> {
    return commitWith(this.main, commit, { topology: this.topology, history: this.limits, epoch: this.nextEpoch });
  }

  commitBatch(commits: Commit[]): Promise<CommitOutcome[]> {
    const context = { topology: this.topology, history: this.limits, epoch: this.nextEpoch };
    return commitBatchWith(this.main, commits, context, (commit) => this.commit(commit));
  }

  async position(channel: string): Promise<ChannelPosition> {
    const { position, history } = this.topology.channel(channel);
    const [epoch, offset] = await this.main.sbPosition(position, history, this.nextEpoch());
    return { epoch, offset: Number(offset) };
  }

  async history(channel: string, request: HistoryRequest): Promise<HistoryResult> {
    const { position, history } = this.topology.channel(channel);
    if (!isValidSince(request.since)) {
      const current = await this.position(channel);
      return { recovered: false, ...current };
    }
    const [epoch, offset, entries] = await this.main.sbHistory(
      position, history, this.nextEpoch(), request.epoch, String(request.since), String(request.since + 1),
    );
    return historyResult({ epoch, offset: Number(offset) }, request, toMessages(epoch, entries ?? []));
  }

  /**
   * Reads go out as separate commands at once: auto-pipelining sends them in one round trip per
   * node, and on a cluster each reaches the shard of its key.
   */
  async read(reads: StoreRead[]): Promise<number[]> {
    const values = await Promise.all(
      reads.map((read) => {
        const key = this.topology.stateKey(read.key);
        if (read.op === 'get') return this.main.get(key);
        if (read.op === 'pfcount') return this.main.pfcount(key);
        return this.main.zcount(key, read.min, '+inf');
      }),
    );
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  async readStrings(reads: StringRead[]): Promise<string[][]> {
    return Promise.all(
      reads.map(async (read): Promise<string[]> => {
        if (read.op === 'lrange') return this.main.lrange(this.topology.stateKey(read.key), read.start, read.stop);
        if (read.op === 'zrangebyscore') return this.main.zrangebyscore(this.topology.stateKey(read.key), read.min, '+inf');
        return this.mget(read.keys.map((key) => this.topology.stateKey(key)));
      }),
    );
  }

  /** MGET, one per slot on a cluster; the strings found, in key order. */
  private async mget(keys: string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const bySlot = new Map<number, number[]>();
    keys.forEach((key, index) => {
      const group = this.topology.groupOf(key);
      const indexes = bySlot.get(group);
      if (indexes === undefined) bySlot.set(group, [index]);
      else indexes.push(index);
    });
    const values = new Array<string | null>(keys.length).fill(null);
    await Promise.all(
      [...bySlot.values()].map(async (indexes) => {
        const found = await this.main.mget(...indexes.map((i) => keys[i] as string));
        indexes.forEach((i, n) => (values[i] = found[n] ?? null));
      }),
    );
    return values.filter((v): v is string => typeof v === 'string');
  }

  private async subscriberClient(): Promise<Client> {
    if (this.subscriber === undefined) {
      // Subscriptions are restored by hand after a reconnect (not by ioredis), so listeners
      // learn when every channel is subscribed again and can fill the gap from history.
      const subscriber = this.topology.cluster
        ? this.createClient('subscriber', {}, true)
        : this.createClient('subscriber', { autoResubscribe: false });
      // Sharded pub/sub on a cluster (SSUBSCRIBE), classic on one Redis.
      subscriber.on(this.topology.cluster ? 'smessage' : 'message', (channel: string, payload: string) => this.dispatch(channel, payload));
      let connectedBefore = false;
      // A cluster's sharded subscribers are recreated by ioredis after a node is lost or the
      // slots moved ('subscribersReady'); one Redis reconnects its single connection ('ready').
      subscriber.on(this.topology.cluster ? 'subscribersReady' : 'ready', () => {
        if (connectedBefore) void this.restoreSubscriptions(subscriber);
        connectedBefore = true;
      });
      this.subscriber = subscriber;
      await subscriber.connect();
      if (this.topology.cluster) connectedBefore = true;
    }
    return this.subscriber;
  }

  private dispatch(name: string, payload: string): void {
    const wokenPartition = this.wakeChannels.get(name);
    if (wokenPartition !== undefined) {
      this.partitionedReads.wake(wokenPartition);
      return;
    }
    const probePartition = this.probeChannels.get(name);
    if (probePartition !== undefined) {
      this.probes.get(payload)?.(probePartition);
      return;
    }
    const channel = this.channelOf.get(name) ?? name;
    const set = this.handlers.get(channel);
    if (set === undefined) return;
    const message = decodeChannelPayload(payload);
    if (message === undefined) {
      // Not published by an engine (someone ran PUBLISH by hand): never forward it to clients.
      this.malformedMessages += 1;
      if (this.malformedMessages === 1 || this.malformedMessages % 1000 === 0) {
        this.options.logger.warn({ channel, count: this.malformedMessages }, 'dropped a channel message without an engine header');
      }
      return;
    }
    for (const h of set) h(message);
  }

  /** SUBSCRIBE, or on a cluster SSUBSCRIBE (one command per slot: each reaches its shard). */
  private async subscribeNames(subscriber: Client, names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (!this.topology.cluster) {
      await subscriber.subscribe(...names);
      return;
    }
    const bySlot = new Map<number, string[]>();
    for (const name of names) {
      const group = this.topology.groupOf(name);
      bySlot.set(group, [...(bySlot.get(group) ?? []), name]);
    }
    await Promise.all([...bySlot.values()].map((slotNames) => subscriber.ssubscribe(...slotNames)));
  }

  private async restoreSubscriptions(subscriber: Client): Promise<void> {
    const names = [...this.handlers.keys()].map((channel) => this.topology.channel(channel).pubsub);
    if (this.probeSubscribed !== undefined) names.push(...this.probeChannels.keys());
    if (this.wakeSubscribed !== undefined) names.push(...this.wakeChannels.keys());
    try {
      await this.subscribeNames(subscriber, names);
    } catch (err) {
      // The connection dropped again; the next reconnect restores them.
      this.options.logger.warn({ err }, 'restoring subscriptions failed; retrying on the next reconnect');
      return;
    }
    this.options.logger.info({ channels: names.length }, 'subscriptions restored');
    // Wake-ups published while the subscription was away are lost: read every partition.
    this.partitionedReads.wakeAll();
    for (const listener of this.restoredListeners) listener();
  }

  onSubscriptionsRestored(listener: () => void): () => void {
    this.restoredListeners.add(listener);
    return () => this.restoredListeners.delete(listener);
  }

  /** A round trip through pub/sub; on a cluster through every partition's shard at once. */
  async probeSubscription(timeoutMs: number): Promise<boolean> {
    const nonce = String((this.probeNonce += 1));
    if (this.probeChannels.size === 0) {
      for (const partition of this.partitionIndexes()) this.probeChannels.set(this.topology.probeChannel(this.probeToken, partition), partition);
    }
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      const seen = new Set<number>();
      this.probes.set(nonce, (partition) => {
        seen.add(partition);
        if (seen.size === this.topology.partitions) resolve(true);
      });
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const roundTrip = (async () => {
      const subscriber = await this.subscriberClient();
      this.probeSubscribed ??= this.subscribeNames(subscriber, [...this.probeChannels.keys()]).catch((err: unknown) => {
        this.probeSubscribed = undefined;
        throw err;
      });
      await this.probeSubscribed;
      await Promise.all(
        [...this.probeChannels.keys()].map((name) => (this.topology.cluster ? this.main.spublish(name, nonce) : this.main.publish(name, nonce))),
      );
      return arrived;
    })();
    try {
      // Failures (Redis away) count as a failed probe; the timeout bounds every step.
      return await Promise.race([roundTrip.catch(() => false), arrived]);
    } finally {
      clearTimeout(timer);
      this.probes.delete(nonce);
    }
  }

  async subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    const subscriber = await this.subscriberClient();
    const existing = this.handlers.get(channel);
    if (existing !== undefined) {
      existing.add(handler);
      return;
    }
    const set = new Set([handler]);
    this.handlers.set(channel, set);
    const { pubsub } = this.topology.channel(channel);
    this.channelOf.set(pubsub, channel);
    try {
      await this.subscribeNames(subscriber, [pubsub]);
    } catch (err) {
      // Not subscribed: forget the channel so a later call tries again.
      if (this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
    const set = this.handlers.get(channel);
    if (set === undefined || !set.delete(handler) || set.size > 0) return;
    this.handlers.delete(channel);
    const { pubsub } = this.topology.channel(channel);
    this.channelOf.delete(pubsub);
    if (this.topology.cluster) await this.subscriber?.sunsubscribe(pubsub);
    else await this.subscriber?.unsubscribe(pubsub);
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.main.sbLeaseAcquire(leaseKey(name), holder, ttlMs)) === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.main.sbLeaseRelease(leaseKey(name), holder);
  }
}
