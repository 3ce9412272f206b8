import { Redis, type RedisOptions, type Result } from 'ioredis';
import type { Logger } from 'pino';
import { INGEST_DEAD_LETTER_STREAM, INGEST_GROUP, INGEST_STREAM, leaseKey, offsetKey } from '@switchboard/protocol';
import {
  publishesOf,
  type AppendOnceResult,
  type Commit,
  type CommitResult,
  type Engine,
  type EngineHealth,
  type IngestBacklog,
  type IngestOnce,
  type StoreOp,
  type StoreRead,
  type StreamEntry,
  type StringRead,
} from '../engine.js';
import { APPEND_ONCE_SCRIPT, COMMIT_SCRIPT, LEASE_ACQUIRE_SCRIPT, LEASE_RELEASE_SCRIPT } from './scripts.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbCommit(...args: (string | number | Buffer)[]): Result<number[], Context>;
    sbAppendOnce(stream: string, marker: string, ...args: (string | number)[]): Result<[number, string], Context>;
    sbLeaseAcquire(key: string, holder: string, ttlMs: number): Result<number, Context>;
    sbLeaseRelease(key: string, holder: string): Result<number, Context>;
  }
}

export interface RedisEngineOptions {
  url: string;
  logger: Logger;
  /** Dead-letter stream length cap (approximate). */
  deadLetterMaxLen?: number;
}

type RawEntry = [id: string, fields: string[] | null];

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

const toFields = (flat: string[]): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
};

/** The 1-based (Lua) index of `key` in `keys`, appending it when new. */
function keyIndex(keys: string[], key: string): number {
  const index = keys.indexOf(key);
  return (index === -1 ? keys.push(key) - 1 : index) + 1;
}

/** Flattens ops into the script's [[op, keyIndex, args...]] form, collecting their keys. */
function encodeOps(ops: StoreOp[], keys: string[]): string {
  const encoded = ops.map((op) => {
    const index = keyIndex(keys, op.key);
    switch (op.op) {
      case 'incr':
        return [op.op, index, String(op.by ?? 1)];
      case 'pfadd':
        return [op.op, index, op.member];
      case 'zadd':
        return [op.op, index, String(op.score), op.member];
      case 'zremrangebyscore':
        return [op.op, index, String(op.max)];
      case 'expire':
        return [op.op, index, String(op.seconds)];
      case 'setnx':
        return [op.op, index, op.value, String(op.seconds)];
      case 'lpush':
        return [op.op, index, op.values];
      case 'ltrim':
        return [op.op, index, String(op.start), String(op.stop)];
      case 'del':
        return [op.op, index];
      case 'set':
        return op.ttlS === undefined ? [op.op, index, op.value] : [op.op, index, op.value, String(op.ttlS)];
    }
  });
  return JSON.stringify(encoded);
}

/**
 * The Redis engine: a stream with a consumer group for ingest, pub/sub for fan-out, plain keys
 * (HyperLogLog, counters, sorted sets) for state, Lua for the atomic commit and leases.
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  private readonly main: Redis;
  private subscriber: Redis | undefined;
  private blocking: Redis | undefined;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private readonly prefixHandlers = new Map<string, Set<(channel: string, message: Buffer) => void>>();
  private closed = false;

  constructor(private readonly options: RedisEngineOptions) {
    this.main = this.createClient('command', {
      // Fail fast while Redis is away: ingest answers 503 instead of hanging, and the adapter's
      // publish rejects quickly (DESIGN section 8).
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
      enableAutoPipelining: true,
    });
    this.main.defineCommand('sbCommit', { lua: COMMIT_SCRIPT });
    this.main.defineCommand('sbAppendOnce', { numberOfKeys: 2, lua: APPEND_ONCE_SCRIPT });
    this.main.defineCommand('sbLeaseAcquire', { numberOfKeys: 1, lua: LEASE_ACQUIRE_SCRIPT });
    this.main.defineCommand('sbLeaseRelease', { numberOfKeys: 1, lua: LEASE_RELEASE_SCRIPT });
  }

  private createClient(connection: string, extra: RedisOptions = {}): Redis {
    return createRedisClient(this.options.url, this.options.logger, connection, { ...extra, isClosed: () => this.closed });
  }

  health(): EngineHealth {
    const ready = this.main.status === 'ready' && (this.subscriber === undefined || this.subscriber.status === 'ready');
    return ready ? 'up' : 'down';
  }

  async connect(): Promise<void> {
    await this.main.connect();
    await this.ensureGroup();
  }

  /**
   * Creates the consumer group at the start of the stream (id 0), so entries added before any
   * worker existed are still delivered. Also used after Redis lost its data (restart without
   * persistence, failover to an empty replica): reads then fail with NOGROUP.
   */
  private async ensureGroup(): Promise<void> {
    try {
      await this.main.xgroup('CREATE', INGEST_STREAM, INGEST_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  /** Runs a group command, recreating the group once if Redis forgot it. */
  private async withGroup<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOGROUP')) throw err;
      this.options.logger.warn('ingest consumer group missing (Redis lost its data?): recreating it');
      await this.ensureGroup();
      return command();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const clients = [this.main, this.subscriber, this.blocking].filter((c): c is Redis => c !== undefined);
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

  async appendIngest(fields: Record<string, string>): Promise<string> {
    const id = await this.main.xadd(INGEST_STREAM, '*', ...Object.entries(fields).flat());
    if (id === null) throw new Error('XADD returned no id');
    return id;
  }

  async appendIngestOnce(fields: Record<string, string>, once: IngestOnce): Promise<AppendOnceResult> {
    const [appended, value] = await this.main.sbAppendOnce(
      INGEST_STREAM, once.key, once.ttlS, once.value, ...Object.entries(fields).flat(),
    );
    return appended === 1 ? { duplicate: false, streamId: value } : { duplicate: true, value };
  }

  async readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    // A blocking read holds its connection; give it its own so commands are never stuck behind it.
    this.blocking ??= this.createClient('blocking', { maxRetriesPerRequest: 1 });
    if (this.blocking.status === 'wait') await this.blocking.connect();
    const blocking = this.blocking;
    const reply = (await this.withGroup(() =>
      blocking.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', INGEST_STREAM, '>'),
    )) as [string, RawEntry[]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(([streamId, flat]) => ({ streamId, fields: toFields(flat ?? []), deliveries: 1 }));
  }

  async claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const pending = (await this.withGroup(() =>
      this.main.xpending(INGEST_STREAM, INGEST_GROUP, 'IDLE', minIdleMs, '-', '+', count),
    )) as [
      string,
      string,
      number,
      number,
    ][];
    if (pending.length === 0) return [];
    const deliveries = new Map(pending.map(([id, , , times]) => [id, times + 1]));
    const claimed = (await this.main.xclaim(
      INGEST_STREAM, INGEST_GROUP, consumer, minIdleMs, ...pending.map(([id]) => id),
    )) as RawEntry[];
    const entries: StreamEntry[] = [];
    const vanished: string[] = [];
    for (const [streamId, flat] of claimed) {
      if (flat === null) vanished.push(streamId);
      else entries.push({ streamId, fields: toFields(flat), deliveries: deliveries.get(streamId) ?? 2 });
    }
    // Entries trimmed away while pending can never be processed: drop them from the PEL.
    if (vanished.length > 0) await this.main.xack(INGEST_STREAM, INGEST_GROUP, ...vanished);
    return entries;
  }

  async deadLetter(entry: StreamEntry, reason: string): Promise<void> {
    await this.main
      .multi()
      .xadd(
        INGEST_DEAD_LETTER_STREAM, 'MAXLEN', '~', this.options.deadLetterMaxLen ?? 10_000, '*',
        'reason', reason, 'source_id', entry.streamId, ...Object.entries(entry.fields).flat(),
      )
      .xack(INGEST_STREAM, INGEST_GROUP, entry.streamId)
      .exec();
  }

  /** XINFO GROUPS of the ingest stream, for the workers' group: field → value. */
  private async groupInfo(): Promise<Map<string, unknown> | undefined> {
    const groups = (await this.main.xinfo('GROUPS', INGEST_STREAM)) as unknown[][];
    for (const flat of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
      if (info.get('name') === INGEST_GROUP) return info;
    }
    return undefined;
  }

  async ingestBacklog(): Promise<IngestBacklog> {
    const info = await this.groupInfo();
    const lag = info?.get('lag');
    return { pending: Number(info?.get('pending') ?? 0), lag: typeof lag === 'number' ? lag : null };
  }

  async trimIngest(): Promise<void> {
    const summary = (await this.main.xpending(INGEST_STREAM, INGEST_GROUP)) as [number, string | null, string | null, unknown];
    let keepFrom: string | undefined = summary[0] > 0 && summary[1] ? summary[1] : undefined;
    if (keepFrom === undefined) {
      const lastDelivered = (await this.groupInfo())?.get('last-delivered-id');
      if (lastDelivered !== undefined) keepFrom = String(lastDelivered);
    }
    if (keepFrom !== undefined && keepFrom !== '0-0') await this.main.xtrim(INGEST_STREAM, 'MINID', '~', keepFrom);
  }

  async commit(commit: Commit): Promise<CommitResult> {
    const { guard } = commit;
    const keys = [guard.kind === 'entry' ? INGEST_STREAM : guard.kind === 'once' ? guard.key : offsetKey('none')];
    const publishes = publishesOf(commit);
    const publishSpec = JSON.stringify(publishes.map((p) => [p.channel, keyIndex(keys, offsetKey(p.channel))]));
    const opsJson = encodeOps(commit.ops, keys);
    const args = [
      guard.kind,
      guard.kind === 'entry' ? guard.streamId : guard.kind === 'once' ? String(guard.ttlS) : '',
      INGEST_GROUP,
      guard.kind === 'entry' ? guard.consumer : '',
      opsJson,
      publishSpec,
      ...publishes.map((p) => p.frame),
      ...(commit.broadcasts ?? []).flatMap(({ channel, message }) => [channel, message]),
    ];
    const [applied, ...offsets] = await this.main.sbCommit(keys.length, ...keys, ...args);
    if (applied !== 1) return { applied: false };
    return offsets.length === 0 ? { applied: true } : { applied: true, offset: offsets[0], offsets };
  }

  async read(reads: StoreRead[]): Promise<number[]> {
    const pipeline = this.main.pipeline();
    for (const read of reads) {
      if (read.op === 'get') pipeline.get(read.key);
      else if (read.op === 'pfcount') pipeline.pfcount(read.key);
      else pipeline.zcount(read.key, read.min, '+inf');
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value === null ? 0 : Number(value);
    });
  }

  async readStrings(reads: StringRead[]): Promise<string[][]> {
    if (reads.length === 0) return [];
    const pipeline = this.main.pipeline();
    for (const read of reads) {
      if (read.op === 'lrange') pipeline.lrange(read.key, read.start, read.stop);
      else if (read.op === 'zrangebyscore') pipeline.zrangebyscore(read.key, read.min, '+inf');
      else if (read.keys.length === 0) pipeline.echo('');
      else pipeline.mget(...read.keys);
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    });
  }

  private async subscriberClient(): Promise<Redis> {
    if (this.subscriber === undefined) {
      const subscriber = this.createClient('subscriber');
      subscriber.on('message', (ch: string, message: string) => {
        const set = this.handlers.get(ch);
        if (set) for (const h of set) h(message);
      });
      subscriber.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) => {
        const set = this.prefixHandlers.get(pattern.toString());
        if (set) for (const h of set) h(channel.toString(), message);
      });
      this.subscriber = subscriber;
      await subscriber.connect();
    }
    return this.subscriber;
  }

  async subscribePrefix(prefix: string, handler: (channel: string, message: Buffer) => void): Promise<void> {
    const subscriber = await this.subscriberClient();
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let set = this.prefixHandlers.get(pattern);
    if (set === undefined) {
      set = new Set();
      this.prefixHandlers.set(pattern, set);
      await subscriber.psubscribe(pattern);
    }
    set.add(handler);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    const subscriber = await this.subscriberClient();
    const existing = this.handlers.get(channel);
    if (existing !== undefined) {
      existing.add(handler);
      return;
    }
    const set = new Set([handler]);
    this.handlers.set(channel, set);
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      // Not subscribed: forget the channel so a later call tries again.
      if (this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string, handler: (message: string) => void): Promise<void> {
    const set = this.handlers.get(channel);
    if (set === undefined || !set.delete(handler) || set.size > 0) return;
    this.handlers.delete(channel);
    await this.subscriber?.unsubscribe(channel);
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.main.sbLeaseAcquire(leaseKey(name), holder, ttlMs)) === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.main.sbLeaseRelease(leaseKey(name), holder);
  }
}
