import { INGEST_GROUP, INGEST_STREAM, KEY_PREFIX, ingestEnvelopeSchema, validate } from '@switchboard/protocol';
import { streamIdTime } from '../dead-letters.js';
import type { IntakeForward } from '../engine.js';
import type { Client, ConnectionFactory } from './connections.js';
import type { ConsumerGroups } from './groups.js';
import type { Mode } from './mode.js';
import { runTakeOver } from './scripts/take-over.js';
import { toFields, type RawEntry } from './stream-entries.js';

/**
 * How long the marker of a forwarded intake entry is kept. It only has to outlive the moment
 * between the append to the partition and the acknowledgement of the intake entry: a worker
 * killed in between has its entries taken over within seconds.
 */
export const INTAKE_MARKER_TTL_S = 3_600;

/** A live worker's announcement for the intake stream, on the intake's slot (`{sb:ingest}`). */
export const intakeAliveKey = (consumer: string): string => `${KEY_PREFIX}{${INGEST_STREAM}}:worker:alive:${consumer}`;

/** The marker of a forwarded intake entry (stored with the partition it went to). */
const intakeMarkerKey = (id: string): string => `${INGEST_STREAM}:intake:${id}`;

export interface IntakeDeps {
  main: Client;
  connect: ConnectionFactory;
  mode: Mode;
  groups: ConsumerGroups;
  deadLetterMaxLen: number;
}

const NOTHING: IntakeForward = Object.freeze({ forwarded: 0, duplicates: 0, deadLettered: 0, consumers: [] });

/**
 * The intake stream of a Redis Cluster (`sb:ingest`, the stream producers append to on one
 * Redis): read through the workers' consumer group and forwarded into the partitions. Each
 * entry is appended to its partition once, guarded by a marker keyed by its intake id, then
 * acknowledged: a worker that dies in between leaves it pending, the taker appends nothing
 * again (the marker answers a duplicate) and acknowledges it. An entry whose envelope cannot be
 * routed (the fields the gateway would refuse) goes to the dead-letter stream with its reason.
 * On one Redis there is no intake: every method does nothing.
 */
export class RedisIntake {
  readonly enabled: boolean;
  private reader: Client | undefined;

  constructor(private readonly deps: IntakeDeps) {
    this.enabled = deps.mode.topology.cluster;
  }

  async ensure(): Promise<void> {
    if (this.enabled) await this.deps.groups.ensureStream(INGEST_STREAM);
  }

  /** New intake entries for `consumer`, read on a connection of its own (a blocking read holds it), forwarded. */
  async forward(consumer: string, count: number, blockMs: number): Promise<IntakeForward> {
    if (!this.enabled) return NOTHING;
    const reply = await this.deps.groups.withStream(INGEST_STREAM, async () => {
      this.reader ??= this.deps.connect('intake', { maxRetriesPerRequest: 1 });
      if (this.reader.status === 'wait') await this.reader.connect();
      const read = blockMs > 0
        ? this.reader.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', INGEST_STREAM, '>')
        : this.reader.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'STREAMS', INGEST_STREAM, '>');
      return read as Promise<[string, RawEntry[]][] | null>;
    });
    return this.forwardEntries(reply?.[0]?.[1] ?? [], []);
  }

  /** Takes over dead consumers' intake entries, then those idle `minIdleMs` on anyone, and forwards them. */
  async recover(consumer: string, minIdleMs: number, count: number): Promise<IntakeForward> {
    if (!this.enabled) return NOTHING;
    const { main, groups } = this.deps;
    const infos = (await groups.withStream(INGEST_STREAM, () => main.xinfo('CONSUMERS', INGEST_STREAM, INGEST_GROUP))) as unknown[][];
    const others = infos.map((flat) => String(flat[flat.indexOf('name') + 1])).filter((name) => name !== consumer);
    const alive = await Promise.all(others.map((name) => main.exists(intakeAliveKey(name))));
    const entries: RawEntry[] = [];
    const consumers: string[] = [];
    for (const dead of others.filter((_, i) => alive[i] === 0)) {
      if (entries.length >= count) break;
      const { claimed } = await runTakeOver(main, {
        stream: INGEST_STREAM, alive: intakeAliveKey(dead), group: INGEST_GROUP, dead, taker: consumer, count: count - entries.length,
      });
      if (claimed.length === 0) continue;
      consumers.push(dead);
      entries.push(...claimed);
    }
    if (entries.length < count) {
      const [, stale] = (await main.xautoclaim(INGEST_STREAM, INGEST_GROUP, consumer, minIdleMs, '0-0', 'COUNT', count - entries.length)) as [string, RawEntry[]];
      entries.push(...stale);
    }
    return this.forwardEntries(entries, consumers);
  }

  /**
   * Appends every entry to its partition and dead-letters the broken ones (all at once), then
   * acknowledges those appended, found appended already, or gone from the stream, in one XACK. A failed append stays pending (taken
   * again later) and its error is thrown once the others are acknowledged.
   */
  private async forwardEntries(entries: RawEntry[], consumers: string[]): Promise<IntakeForward> {
    const { main, mode, deadLetterMaxLen } = this.deps;
    const result: IntakeForward = { forwarded: 0, duplicates: 0, deadLettered: 0, consumers };
    const done: string[] = [];
    const steps: Promise<void>[] = [];
    for (const [id, flat] of entries) {
      // Trimmed away while pending: nothing left to forward.
      if (flat === null) {
        done.push(id);
        continue;
      }
      const fields = toFields(flat);
      const envelope = validate(ingestEnvelopeSchema, fields);
      if (!envelope.ok) {
        // Copied, then acknowledged by itself (mode.deadLetter).
        const letter = { stream: INGEST_STREAM, id, sourceId: id, fields, reason: envelope.error, maxLen: deadLetterMaxLen };
        steps.push(mode.deadLetter(main, letter).then(() => void (result.deadLettered += 1)));
        continue;
      }
      // The entry's time is that of its intake id, not of the partition entry appended later.
      const forwarded = fields['at'] === undefined ? { ...fields, at: String(streamIdTime(id)) } : fields;
      const marker = { key: intakeMarkerKey(id), ttlS: INTAKE_MARKER_TTL_S, value: id };
      steps.push(
        mode.append(main, mode.ingestPartition(fields, undefined), forwarded, marker).then(([appended]) => {
          if (appended === 1) result.forwarded += 1;
          else result.duplicates += 1;
          done.push(id);
        }),
      );
    }
    const outcomes = await Promise.allSettled(steps);
    if (done.length > 0) await main.xack(INGEST_STREAM, INGEST_GROUP, ...done);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return result;
  }

  async announce(consumer: string, ttlMs: number): Promise<void> {
    if (this.enabled) await this.deps.main.set(intakeAliveKey(consumer), '1', 'PX', ttlMs);
  }

  async withdraw(consumer: string): Promise<void> {
    if (this.enabled) await this.deps.main.del(intakeAliveKey(consumer));
  }

  /** The intake's pending entries and lag; undefined on one Redis. */
  async backlog(): Promise<{ pending: number; lag: number | null } | undefined> {
    if (!this.enabled) return undefined;
    const info = await this.deps.groups.withStream(INGEST_STREAM, () => this.deps.groups.infoOf(INGEST_STREAM));
    const lag = info?.get('lag');
    return { pending: Number(info?.get('pending') ?? 0), lag: typeof lag === 'number' ? lag : null };
  }

  async trim(): Promise<void> {
    if (this.enabled) await this.deps.groups.trim(INGEST_STREAM);
  }

  /** A blocking read would hold QUIT back until it times out: the reader just disconnects. */
  close(): void {
    this.reader?.disconnect();
  }
}
