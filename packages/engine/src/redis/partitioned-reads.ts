import { delayOrWake } from '../wait.js';
import type { StreamEntry } from '../engine.js';

/** Reads up to `count` new entries of one partition for `consumer`, without blocking. */
export type ReadPartition = (partition: number, consumer: string, count: number) => Promise<StreamEntry[]>;

/** What one consumer knows about the partitions. */
interface ConsumerReads {
  /** Partitions that may hold entries it has not read, oldest first (the order they are read in). */
  dirty: Set<number>;
  /** When every partition was last read, wake-up or not. */
  sweptAt: number;
  /** How often every partition is read: the block time of the consumer's last waiting read (0: at every read). */
  sweepEveryMs: number;
  /** Ends the current wait, if any. */
  wake: (() => void) | undefined;
}

/**
 * How a worker reads the ingest partitions of a Redis Cluster without a blocking connection per
 * partition (Redis cannot block on streams of several slots in one command). Appends wake the
 * readers through their partition's shard channel; a reader waits for a wake-up, then reads the
 * woken partitions with short non-blocking reads on the shared connection. Every partition is
 * also read once per `blockMs` whatever the wake-ups say ("sweep"): a wake-up lost in a
 * failover or never sent (a producer that appends with XADD alone) delays an entry by at most
 * that long, and an idle worker makes one read per partition per block time. A read that must
 * not wait (blockMs 0: a worker reading its next batch while the current one commits) reads the
 * woken partitions, and every partition only when a sweep is due. One read at a time per consumer.
 */
export class PartitionedReads {
  private readonly consumers = new Map<string, ConsumerReads>();
  private closed = false;

  constructor(
    private readonly partitions: number,
    private readonly readPartition: ReadPartition,
  ) {}

  /** Entries were appended to `partition`. */
  wake(partition: number): void {
    for (const reads of this.consumers.values()) {
      reads.dirty.add(partition);
      reads.wake?.();
    }
  }

  /** Wake-ups may have been missed (the subscriptions were restored): read every partition now. */
  wakeAll(): void {
    for (const reads of this.consumers.values()) {
      reads.sweptAt = 0;
      reads.wake?.();
    }
  }

  /** Ends every wait (the engine closes). */
  close(): void {
    this.closed = true;
    for (const reads of this.consumers.values()) reads.wake?.();
  }

  /**
   * Up to `count` entries, shared among the partitions that may have some; when there are none,
   * waits for wake-ups and reads again until `blockMs` has passed (0: no wait; every partition is
   * read at the consumer's first read, and then once per the block time of its waiting reads).
   */
  async read(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    const reads = this.consumerReads(consumer);
    if (blockMs > 0) reads.sweepEveryMs = blockMs;
    const deadline = Date.now() + blockMs;
    for (;;) {
      const sweepAt = reads.sweptAt + reads.sweepEveryMs;
      const until = Math.min(deadline, sweepAt);
      if (reads.dirty.size === 0 && Date.now() < until) await waitForWake(reads, until - Date.now());
      if (Date.now() >= sweepAt) {
        for (let partition = 0; partition < this.partitions; partition += 1) reads.dirty.add(partition);
        reads.sweptAt = Date.now();
      }
      const entries = await this.readDirty(reads, consumer, count);
      if (entries.length > 0 || this.closed || Date.now() >= deadline) return entries;
    }
  }

  /**
   * Up to `count` entries from the dirty partitions, read in rounds of parallel reads: each round
   * shares what is still wanted among the first partitions in line; one that filled its share may
   * have more and goes back in line; the rest wait for their next wake-up or sweep.
   */
  private async readDirty(reads: ConsumerReads, consumer: string, count: number): Promise<StreamEntry[]> {
    const entries: StreamEntry[] = [];
    let failure: PromiseRejectedResult | undefined;
    const failed: number[] = [];
    while (entries.length < count && reads.dirty.size > 0) {
      const wanted = count - entries.length;
      const chosen = [...reads.dirty].slice(0, Math.min(wanted, reads.dirty.size));
      for (const partition of chosen) reads.dirty.delete(partition);
      const share = (i: number) => Math.floor(wanted / chosen.length) + (i < wanted % chosen.length ? 1 : 0);
      const results = await Promise.allSettled(chosen.map((partition, i) => this.readPartition(partition, consumer, share(i))));
      results.forEach((result, i) => {
        if (result.status === 'rejected') {
          // Not retried at once (no busy loop on a shard failing over): the next sweep reads it.
          failure ??= result;
          failed.push(chosen[i] as number);
          return;
        }
        entries.push(...result.value);
        if (result.value.length >= share(i)) reads.dirty.add(chosen[i] as number);
      });
    }
    if (failure !== undefined && entries.length === 0) {
      // The caller backs off before its next read, which tries them first (readiness follows it).
      for (const partition of failed) reads.dirty.add(partition);
      throw failure.reason;
    }
    return entries;
  }

  private consumerReads(consumer: string): ConsumerReads {
    let reads = this.consumers.get(consumer);
    if (reads === undefined) this.consumers.set(consumer, (reads = { dirty: new Set(), sweptAt: 0, sweepEveryMs: 0, wake: undefined }));
    return reads;
  }
}

function waitForWake(reads: ConsumerReads, ms: number): Promise<void> {
  return delayOrWake(ms, (wake) => {
    reads.wake = wake;
    return () => (reads.wake = undefined);
  });
}
