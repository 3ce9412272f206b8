import { INGEST_GROUP } from '@switchboard/protocol';
import type { AppendOnceResult, IngestBacklog, IngestOnce, IngestQueue, StreamEntry, TakeOver } from '../engine.js';
import { Redis } from 'ioredis';
import { turnPipelined, type Client } from './connections.js';
import type { ConsumerGroups } from './groups.js';
import type { IngestReader } from './ingest-readers.js';
import type { Mode } from './mode.js';
import { runTakeOver } from './scripts/take-over.js';
import { toFields, type RawEntry } from './stream-entries.js';
import { entryAddress, entryId, type Topology } from './topology.js';

export interface IngestDeps {
  main: Client;
  mode: Mode;
  groups: ConsumerGroups;
  reader: IngestReader;
  /** Dead-letter stream length cap (approximate). */
  deadLetterMaxLen: number;
}

/**
 * The ingest stream on Redis: one stream and consumer group on one Redis, one per partition on
 * a Redis Cluster. Entries are acknowledged by the commit that applies them (or dead-lettered).
 */
export class RedisIngest implements IngestQueue {
  private readonly main: Client;
  private readonly mode: Mode;
  private readonly topology: Topology;
  private readonly groups: ConsumerGroups;
  /**
   * Where appends go: on one Redis, the commands of one event-loop turn in one pipeline,
   * several in flight at once (concurrent POSTs must not queue behind each other's round trips,
   * as they do in ioredis's auto-pipelining); on a cluster, the client as it is.
   */
  private readonly appender: Client;

  constructor(private readonly deps: IngestDeps) {
    ({ main: this.main, mode: this.mode, groups: this.groups } = deps);
    this.topology = deps.mode.topology;
    this.appender = this.main instanceof Redis ? turnPipelined(this.main) : this.main;
  }

  async appendIngest(fields: Record<string, string>, route?: string): Promise<string> {
    const partition = this.mode.ingestPartition(fields, route);
    const [, id] = await this.mode.append(this.appender, partition, fields);
    return entryId(this.topology, partition, id);
  }

  async appendIngestOnce(fields: Record<string, string>, once: IngestOnce, route?: string): Promise<AppendOnceResult> {
    const partition = this.mode.ingestPartition(fields, route);
    const [appended, value] = await this.mode.append(this.appender, partition, fields, once);
    return appended === 1 ? { duplicate: false, streamId: entryId(this.topology, partition, value) } : { duplicate: true, value };
  }

  readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    return this.deps.reader.read(consumer, count, blockMs);
  }

  async claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const entries: StreamEntry[] = [];
    for (const partition of this.groups.partitions()) {
      if (entries.length >= count) break;
      entries.push(...(await this.claimStalePartition(partition, consumer, minIdleMs, count - entries.length)));
    }
    return entries;
  }

  private async claimStalePartition(partition: number, consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const stream = this.topology.ingestStream(partition);
    const pending = (await this.groups.with(partition, () =>
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
    await Promise.all(this.groups.partitions().map((p) => this.main.set(this.topology.consumerAliveKey(p, consumer), '1', 'PX', ttlMs)));
  }

  async withdrawConsumer(consumer: string): Promise<void> {
    await Promise.all(this.groups.partitions().map((p) => this.main.del(this.topology.consumerAliveKey(p, consumer))));
  }

  async takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver> {
    const taken: TakeOver = { consumers: [], entries: [] };
    for (const partition of this.groups.partitions()) {
      if (taken.entries.length >= count) break;
      const { consumers, entries } = await this.takeOverPartition(partition, consumer, count - taken.entries.length);
      for (const name of consumers) if (!taken.consumers.includes(name)) taken.consumers.push(name);
      taken.entries.push(...entries);
    }
    return taken;
  }

  private async takeOverPartition(partition: number, consumer: string, count: number): Promise<TakeOver> {
    const stream = this.topology.ingestStream(partition);
    const infos = (await this.groups.with(partition, () => this.main.xinfo('CONSUMERS', stream, INGEST_GROUP))) as unknown[][];
    const others = infos.map((flat) => String(flat[flat.indexOf('name') + 1])).filter((name) => name !== consumer);
    if (others.length === 0) return { consumers: [], entries: [] };
    // Most consumers are alive: look their keys up at once, run the script for the rest.
    const alive = await Promise.all(others.map((name) => this.main.exists(this.topology.consumerAliveKey(partition, name))));
    const dead = others.filter((_, i) => alive[i] === 0);
    const taken: TakeOver = { consumers: [], entries: [] };
    for (const name of dead) {
      if (taken.entries.length >= count) break;
      const { claimed, deliveries } = await runTakeOver(this.main, {
        stream, alive: this.topology.consumerAliveKey(partition, name), group: INGEST_GROUP, dead: name, taker: consumer, count: count - taken.entries.length,
      });
      if (claimed.length === 0) continue;
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
    await this.mode.deadLetter(this.main, {
      stream: this.topology.ingestStream(partition), id, sourceId: entry.streamId, fields: entry.fields, reason, maxLen: this.deps.deadLetterMaxLen,
    });
  }

  /** Pending and lag summed over the partitions (lag unknown when any partition cannot tell). */
  async ingestBacklog(): Promise<IngestBacklog> {
    const infos = await Promise.all(this.groups.partitions().map((p) => this.groups.info(p)));
    let pending = 0;
    let lag: number | null = 0;
    const partitions: IngestBacklog['partitions'] = [];
    for (const info of infos) {
      const partitionPending = Number(info?.get('pending') ?? 0);
      const partitionLag = info?.get('lag');
      pending += partitionPending;
      lag = lag !== null && typeof partitionLag === 'number' ? lag + partitionLag : null;
      partitions.push({ pending: partitionPending, lag: typeof partitionLag === 'number' ? partitionLag : null });
    }
    return { pending, lag, partitions };
  }

  async trimIngest(): Promise<void> {
    for (const partition of this.groups.partitions()) await this.groups.trim(this.topology.ingestStream(partition));
  }
}
