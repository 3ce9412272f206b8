import type { Commit, CommitOutcome, CommitResult, HistoryLimits, Store, StoreRead, StringRead } from '../engine.js';
import { commitBatchWith } from './commit/batch.js';
import { commitWith } from './commit/run.js';
import type { Client } from './connections.js';
import type { Mode } from './mode.js';
import type { Topology } from './topology.js';

export interface StoreDeps {
  main: Client;
  topology: Topology;
  history: HistoryLimits;
  /** How a batch is issued (see Mode.commitBatch). */
  batch: Mode['commitBatch'];
  /** A new epoch candidate (for a channel that has none). */
  epoch: () => string;
}

/** State on Redis: commits through the commit script (see ./commit), reads as plain commands. */
export class RedisStore implements Store {
  private readonly main: Client;
  private readonly topology: Topology;

  constructor(private readonly deps: StoreDeps) {
    ({ main: this.main, topology: this.topology } = deps);
  }

  commit(commit: Commit): Promise<CommitResult> {
    return commitWith(this.main, commit, this.deps);
  }

  commitBatch(commits: Commit[]): Promise<CommitOutcome[]> {
    // Entry commits in one script call per partition; the others as the mode batches them.
    return commitBatchWith(this.main, commits, this.deps, (alone) => this.deps.batch((commit) => this.commit(commit), alone));
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
}
