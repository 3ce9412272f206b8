import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamEntry } from '../src/engine.js';
import { PartitionedReads } from '../src/redis/partitioned-reads.js';

/**
 * The cluster's partition reads as pure logic: partitions are in-memory queues, a read takes up
 * to `count` of one, and the clock is faked. (The contract suite runs them on a real cluster.)
 */
class Partitions {
  readonly queues: string[][];
  /** Every read made: [partition, count]. */
  readonly calls: [number, number][] = [];
  readonly failing = new Set<number>();

  constructor(count: number) {
    this.queues = Array.from({ length: count }, () => []);
  }

  append(partition: number, ...bodies: string[]): void {
    this.queues[partition]!.push(...bodies);
  }

  read = async (partition: number, _consumer: string, count: number): Promise<StreamEntry[]> => {
    this.calls.push([partition, count]);
    await Promise.resolve();
    if (this.failing.has(partition)) throw new Error(`partition ${partition} is failing over`);
    return this.queues[partition]!.splice(0, count).map((body) => ({ streamId: `${body}@${partition}`, fields: { body }, deliveries: 1 }));
  };
}

const bodies = (entries: StreamEntry[]) => entries.map((e) => e.fields['body']);

let partitions: Partitions;
let reads: PartitionedReads;
beforeEach(() => {
  vi.useFakeTimers();
  partitions = new Partitions(4);
  reads = new PartitionedReads(4, partitions.read);
});
afterEach(() => {
  reads.close();
  vi.useRealTimers();
});

describe('partitioned reads', () => {
  it('reads every partition once without waiting when blockMs is 0', async () => {
    partitions.append(1, 'a');
    partitions.append(3, 'b');
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['a', 'b']);
    expect(partitions.calls.map(([p]) => p)).toEqual([0, 1, 2, 3]);
    expect(await reads.read('c', 10, 0)).toEqual([]);
  });

  it('gives `count` entries at most, shared in rounds, and keeps the rest of a busy partition in order for the next read', async () => {
    partitions.append(2, ...Array.from({ length: 25 }, (_, n) => `e${n}`));
    partitions.append(0, 'x');
    const first = await reads.read('c', 10, 0);
    expect(first).toHaveLength(10);
    expect(bodies(first)).toContain('x');
    // Four partitions shared 10 (3,3,2,2); only partition 2 filled its share, and got the 7 still wanted.
    expect(partitions.calls).toEqual([[0, 3], [1, 3], [2, 2], [3, 2], [2, 7]]);
    const rest: string[] = [];
    while (rest.length < 16) {
      const batch = await reads.read('c', 10, 1_000);
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(10);
      rest.push(...bodies(batch).map(String));
    }
    expect([...bodies(first).filter((b) => b !== 'x'), ...rest]).toEqual(Array.from({ length: 25 }, (_, n) => `e${n}`));
  });

  it('waits for a wake-up, then reads only the woken partition', async () => {
    await reads.read('c', 10, 0);
    partitions.calls.length = 0;
    const reading = reads.read('c', 10, 5_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(partitions.calls).toEqual([]);
    partitions.append(3, 'late');
    reads.wake(3);
    expect(bodies(await reading)).toEqual(['late']);
    expect(partitions.calls.map(([p]) => p)).toEqual([3]);
  });

  it('goes on waiting after a wake-up that found nothing (another worker read it), until blockMs', async () => {
    await reads.read('c', 10, 0);
    const reading = reads.read('c', 10, 2_000);
    reads.wake(1);
    await vi.advanceTimersByTimeAsync(500);
    partitions.append(2, 'second');
    reads.wake(2);
    expect(bodies(await reading)).toEqual(['second']);
  });

  it('reads every partition once per blockMs without a wake-up (an entry appended with a bare XADD)', async () => {
    await reads.read('c', 10, 0);
    partitions.calls.length = 0;
    partitions.append(2, 'bare'); // no wake-up
    const reading = reads.read('c', 10, 1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect(partitions.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(bodies(await reading)).toEqual(['bare']);
    expect(partitions.calls.map(([p]) => p).sort()).toEqual([0, 1, 2, 3]);
    // Idle: one read per partition per blockMs, observed over several periods.
    partitions.calls.length = 0;
    for (let n = 0; n < 5; n += 1) {
      const idle = reads.read('c', 10, 1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await idle).toEqual([]);
    }
    expect(partitions.calls).toHaveLength(5 * 4);
  });

  it('without waiting after a waiting read, reads the woken partitions only, and every partition once a sweep is due', async () => {
    await reads.read('c', 10, 0);
    const idle = reads.read('c', 10, 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await idle;
    partitions.calls.length = 0;
    partitions.append(1, 'woken');
    partitions.append(2, 'bare'); // no wake-up
    reads.wake(1);
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['woken']);
    expect(await reads.read('c', 10, 0)).toEqual([]);
    expect(partitions.calls.map(([p]) => p)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['bare']);
    expect(partitions.calls.map(([p]) => p).sort()).toEqual([0, 1, 1, 2, 3]);
  });

  it('reads first, without waiting, the partitions of a read that failed', async () => {
    await reads.read('c', 10, 0);
    partitions.failing.add(3);
    const reading = reads.read('c', 10, 1_000);
    reads.wake(3);
    await expect(reading).rejects.toThrow(/failing over/);
    partitions.calls.length = 0;
    await expect(reads.read('c', 10, 0)).rejects.toThrow(/failing over/);
    partitions.failing.clear();
    partitions.append(3, 'back');
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['back']);
    expect(partitions.calls.map(([p]) => p)).toEqual([3, 3]);
  });

  it('reads every partition at once after wakeAll (subscriptions restored: wake-ups may be lost)', async () => {
    await reads.read('c', 10, 0);
    partitions.append(0, 'missed');
    const reading = reads.read('c', 10, 60_000);
    await vi.advanceTimersByTimeAsync(10);
    reads.wakeAll();
    expect(bodies(await reading)).toEqual(['missed']);
  });

  it('wakes every consumer of the engine', async () => {
    await Promise.all([reads.read('a', 10, 0), reads.read('b', 10, 0)]);
    const [a, b] = [reads.read('a', 10, 5_000), reads.read('b', 10, 5_000)];
    partitions.append(1, 'one', 'two');
    partitions.calls.length = 0;
    reads.wake(1);
    await vi.advanceTimersByTimeAsync(0);
    // Both read the woken partition at once; the one that found nothing waits out its block time.
    expect(partitions.calls).toEqual([[1, 10], [1, 10]]);
    await vi.advanceTimersByTimeAsync(5_000);
    const got = [...bodies(await a), ...bodies(await b)];
    expect(got.sort()).toEqual(['one', 'two']);
  });

  it('returns what the healthy partitions had while one fails, without retrying it in a loop; throws when nothing could be read', async () => {
    partitions.append(0, 'ok');
    partitions.failing.add(2);
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['ok']);
    expect(partitions.calls.filter(([p]) => p === 2)).toHaveLength(1);

    // Woken for the failing partition alone: the read fails (the worker backs off), once.
    partitions.calls.length = 0;
    const reading = reads.read('c', 10, 1_000);
    reads.wake(2);
    await expect(reading).rejects.toThrow(/failing over/);
    expect(partitions.calls).toEqual([[2, 10]]);
    partitions.failing.add(0).add(1).add(3);
    await expect(reads.read('c', 10, 0)).rejects.toThrow(/failing over/);
    partitions.failing.clear();
    partitions.append(2, 'after');
    expect(bodies(await reads.read('c', 10, 0))).toEqual(['after']);
  });

  it('ends a wait when closed', async () => {
    await reads.read('c', 10, 0);
    const reading = reads.read('c', 10, 60_000);
    reads.close();
    expect(await reading).toEqual([]);
  });
});
