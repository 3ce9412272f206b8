import { Redis, type RedisOptions, type Result } from 'ioredis';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { INGEST_DEAD_LETTER_STREAM, INGEST_GROUP, INGEST_STREAM, leaseKey } from '@switchboard/protocol';
import { createEpochSource, decodeChannelPayload, historyResult, isValidSince } from '../channel.js';
import {
  DEFAULT_HISTORY_LIMITS,
  publishesOf,
  type AppendOnceResult,
  type ChannelHandler,
  type ChannelMessage,
  type ChannelPosition,
  type Commit,
  type CommitResult,
  type Engine,
  type EngineHealth,
  type HistoryLimits,
  type HistoryRequest,
  type HistoryResult,
  type IngestBacklog,
  type IngestOnce,
  type StoreOp,
  type StoreRead,
  type StreamEntry,
  type StringRead,
  type TakeOver,
} from '../engine.js';
import { channelKeys, consumerAliveKey, probeChannel } from './keys.js';
import {
  APPEND_ONCE_SCRIPT,
  COMMIT_SCRIPT,
  HISTORY_SCRIPT,
  LEASE_ACQUIRE_SCRIPT,
  LEASE_RELEASE_SCRIPT,
  POSITION_SCRIPT,
  TAKE_OVER_SCRIPT,
} from './scripts.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbCommit(...args: (string | number | Buffer)[]): Result<number[], Context>;
    sbPosition(position: string, history: string, epoch: string): Result<[string, string], Context>;
    sbHistory(
      position: string, history: string, epoch: string, clientEpoch: string, since: string, from: string,
    ): Result<[string, string, RawEntry[]?], Context>;
    sbTakeOver(
      stream: string, alive: string, group: string, dead: string, taker: string, count: number,
    ): Result<[RawEntry[], (string | number)[]], Context>;
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
  /** How much history each channel keeps. */
  history?: HistoryLimits;
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

const integer = (value: number, what: string): string => {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${what} must be a whole number, got ${value}`);
  return String(value);
};
const finite = (value: number, what: string): string => {
  if (!Number.isFinite(value)) throw new TypeError(`${what} must be a finite number, got ${value}`);
  return String(value);
};

/**
 * Flattens ops into the commit script's ARGV form (name, key index, argument count,
 * arguments...), collecting their keys. Numbers are checked here, before anything reaches
 * Redis; producer strings travel as they are.
 */
function encodeOps(ops: StoreOp[], keys: string[]): string[] {
  const kept = ops.filter((op) => op.op !== 'lpush' || op.values.length > 0); // LPUSH needs a value
  const out: string[] = [String(kept.length)];
  const push = (name: string, key: string, args: string[]) => out.push(name, String(keyIndex(keys, key)), String(args.length), ...args);
  for (const op of kept) {
    switch (op.op) {
      case 'incr':
        push(op.op, op.key, [integer(op.by ?? 1, 'incr by')]);
        break;
      case 'pfadd':
        push(op.op, op.key, [op.member]);
        break;
      case 'zadd':
        push(op.op, op.key, [finite(op.score, 'zadd score'), op.member]);
        break;
      case 'zremrangebyscore':
        push(op.op, op.key, [finite(op.max, 'zremrangebyscore max')]);
        break;
      case 'expire':
        push(op.op, op.key, [integer(op.seconds, 'expire seconds')]);
        break;
      case 'setnx':
        push(op.op, op.key, [op.value, integer(op.seconds, 'setnx seconds')]);
        break;
      case 'lpush':
        push(op.op, op.key, op.values);
        break;
      case 'ltrim':
        push(op.op, op.key, [integer(op.start, 'ltrim start'), integer(op.stop, 'ltrim stop')]);
        break;
      case 'del':
        push(op.op, op.key, []);
        break;
      case 'set':
        if (op.ttlS === undefined) push('set', op.key, [op.value]);
        else push('setex', op.key, [op.value, integer(op.ttlS, 'set ttlS')]);
        break;
    }
  }
  return out;
}

/** A frame as the commit script takes it: a JSON object, trailing whitespace dropped, `{}` when empty. */
function scriptFrame(frame: string): string {
  const trimmed = frame.trimEnd();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) throw new TypeError('frame must be a JSON object');
  return /^\{\s*\}$/.test(trimmed) ? '{}' : trimmed;
}

const toMessages = (epoch: string, entries: RawEntry[]): ChannelMessage[] =>
  entries.map(([id, flat]) => ({ epoch, offset: Number.parseInt(id, 10), frame: flat?.[1] ?? '' }));

/**
 * The Redis engine: a stream with a consumer group for ingest, pub/sub for fan-out, plain keys
 * (HyperLogLog, counters, sorted sets) for state, Lua for the atomic commit and leases.
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  private readonly main: Redis;
  private subscriber: Redis | undefined;
  private blocking: Redis | undefined;
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private readonly prefixHandlers = new Map<string, Set<(channel: string, message: Buffer) => void>>();
  private readonly restoredListeners = new Set<() => void>();
  private readonly limits: HistoryLimits;
  private readonly nextEpoch = createEpochSource();
  /** This engine's probe channel, and the probes on their way round it (nonce → arrival). */
  private readonly probeChannel = probeChannel(randomBytes(8).toString('hex'));
  private readonly probes = new Map<string, () => void>();
  private probeNonce = 0;
  private probeSubscribed: Promise<unknown> | undefined;
  private malformedMessages = 0;
  private closed = false;

  constructor(private readonly options: RedisEngineOptions) {
    this.main = this.createClient('command', {
      // Fail fast while Redis is away: ingest answers 503 instead of hanging, and the adapter's
      // publish rejects quickly (DESIGN section 8).
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
      enableAutoPipelining: true,
    });
    this.limits = options.history ?? DEFAULT_HISTORY_LIMITS;
    this.main.defineCommand('sbCommit', { lua: COMMIT_SCRIPT });
    this.main.defineCommand('sbPosition', { numberOfKeys: 2, lua: POSITION_SCRIPT });
    this.main.defineCommand('sbHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT });
    this.main.defineCommand('sbTakeOver', { numberOfKeys: 2, lua: TAKE_OVER_SCRIPT });
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
      // NOGROUP, or "no such key" from XINFO when the stream itself is gone.
      if (!(err instanceof Error) || !/NOGROUP|no such key/.test(err.message)) throw err;
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
      // BLOCK 0 would wait forever: a read that must not wait leaves BLOCK out.
      blockMs > 0
        ? blocking.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', INGEST_STREAM, '>')
        : blocking.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'STREAMS', INGEST_STREAM, '>'),
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

  async announceConsumer(consumer: string, ttlMs: number): Promise<void> {
    await this.main.set(consumerAliveKey(consumer), '1', 'PX', ttlMs);
  }

  async withdrawConsumer(consumer: string): Promise<void> {
    await this.main.del(consumerAliveKey(consumer));
  }

  async takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver> {
    const infos = (await this.withGroup(() => this.main.xinfo('CONSUMERS', INGEST_STREAM, INGEST_GROUP))) as unknown[][];
    const others = infos.map((flat) => String(flat[flat.indexOf('name') + 1])).filter((name) => name !== consumer);
    if (others.length === 0) return { consumers: [], entries: [] };
    // Most consumers are alive: look their keys up in one round trip, run the script for the rest.
    const pipeline = this.main.pipeline();
    for (const name of others) pipeline.exists(consumerAliveKey(name));
    const alive = (await pipeline.exec()) ?? [];
    const dead = others.filter((_, i) => alive[i]?.[1] === 0);
    const taken: TakeOver = { consumers: [], entries: [] };
    for (const name of dead) {
      if (taken.entries.length >= count) break;
      const [claimed, flatDeliveries] = await this.main.sbTakeOver(
        INGEST_STREAM, consumerAliveKey(name), INGEST_GROUP, name, consumer, count - taken.entries.length,
      );
      if (claimed.length === 0) continue;
      const deliveries = new Map<string, number>();
      for (let i = 0; i + 1 < flatDeliveries.length; i += 2) deliveries.set(String(flatDeliveries[i]), Number(flatDeliveries[i + 1]));
      taken.consumers.push(name);
      for (const [streamId, flat] of claimed) {
        // Entries trimmed away while pending are dropped from the PEL by XCLAIM (Redis 7).
        if (flat !== null) taken.entries.push({ streamId, fields: toFields(flat), deliveries: (deliveries.get(streamId) ?? 1) + 1 });
      }
    }
    return taken;
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
    // KEYS[1] is the guard's key; a commit without a guard starts with its first op key instead.
    const keys = guard.kind === 'entry' ? [INGEST_STREAM] : guard.kind === 'once' ? [guard.key] : [];
    const ops = encodeOps(commit.ops, keys);
    const publishes = publishesOf(commit);
    const publishArgs = publishes.flatMap(({ channel, frame }) => {
      const { position, history } = channelKeys(channel);
      return [channel, String(keyIndex(keys, position)), String(keyIndex(keys, history)), scriptFrame(frame)];
    });
    const args = [
      guard.kind,
      guard.kind === 'entry' ? guard.streamId : guard.kind === 'once' ? integer(guard.ttlS, 'once ttlS') : '',
      INGEST_GROUP,
      guard.kind === 'entry' ? guard.consumer : '',
      String(this.limits.size),
      String(this.limits.ttlS),
      this.nextEpoch(),
      ...ops,
      String(publishes.length),
      ...publishArgs,
      ...(commit.broadcasts ?? []).flatMap(({ channel, message }) => [channel, message]),
    ];
    const [applied, ...offsets] = await this.main.sbCommit(keys.length, ...keys, ...args);
    if (applied !== 1) return { applied: false };
    return offsets.length === 0 ? { applied: true } : { applied: true, offset: offsets[0], offsets };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const { position, history } = channelKeys(channel);
    const [epoch, offset] = await this.main.sbPosition(position, history, this.nextEpoch());
    return { epoch, offset: Number(offset) };
  }

  async history(channel: string, request: HistoryRequest): Promise<HistoryResult> {
    const { position, history } = channelKeys(channel);
    if (!isValidSince(request.since)) {
      const current = await this.position(channel);
      return { recovered: false, ...current };
    }
    const [epoch, offset, entries] = await this.main.sbHistory(
      position, history, this.nextEpoch(), request.epoch, String(request.since), String(request.since + 1),
    );
    return historyResult({ epoch, offset: Number(offset) }, request, toMessages(epoch, entries ?? []));
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
      // Subscriptions are restored by hand after a reconnect (not by ioredis), so listeners
      // learn when every channel is subscribed again and can fill the gap from history.
      const subscriber = this.createClient('subscriber', { autoResubscribe: false });
      subscriber.on('message', (channel: string, payload: string) => this.dispatch(channel, payload));
      subscriber.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) => {
        const set = this.prefixHandlers.get(pattern.toString());
        if (set) for (const h of set) h(channel.toString(), message);
      });
      let connectedBefore = false;
      subscriber.on('ready', () => {
        if (connectedBefore) void this.restoreSubscriptions(subscriber);
        connectedBefore = true;
      });
      this.subscriber = subscriber;
      await subscriber.connect();
    }
    return this.subscriber;
  }

  private dispatch(channel: string, payload: string): void {
    if (channel === this.probeChannel) {
      this.probes.get(payload)?.();
      return;
    }
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

  private async restoreSubscriptions(subscriber: Redis): Promise<void> {
    const channels = [...this.handlers.keys()];
    if (this.probeSubscribed !== undefined) channels.push(this.probeChannel);
    const patterns = [...this.prefixHandlers.keys()];
    try {
      if (channels.length > 0) await subscriber.subscribe(...channels);
      if (patterns.length > 0) await subscriber.psubscribe(...patterns);
    } catch (err) {
      // The connection dropped again; the next 'ready' restores them.
      this.options.logger.warn({ err }, 'restoring subscriptions failed; retrying on the next reconnect');
      return;
    }
    this.options.logger.info({ channels: channels.length, patterns: patterns.length }, 'subscriptions restored');
    for (const listener of this.restoredListeners) listener();
  }

  onSubscriptionsRestored(listener: () => void): () => void {
    this.restoredListeners.add(listener);
    return () => this.restoredListeners.delete(listener);
  }

  async probeSubscription(timeoutMs: number): Promise<boolean> {
    const nonce = String((this.probeNonce += 1));
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.probes.set(nonce, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const roundTrip = (async () => {
      const subscriber = await this.subscriberClient();
      this.probeSubscribed ??= subscriber.subscribe(this.probeChannel).catch((err: unknown) => {
        this.probeSubscribed = undefined;
        throw err;
      });
      await this.probeSubscribed;
      await this.main.publish(this.probeChannel, nonce);
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

  async subscribe(channel: string, handler: ChannelHandler): Promise<void> {
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

  async unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
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
