import type { StoreOp, StoreRead, StringRead } from '../engine.js';
import { ExpiringMap } from './expiring-map.js';

/**
 * The value types the store keeps; each key holds one of them, as in Redis. Lists are arrays,
 * head first.
 */
type StoreValue = number | string | string[] | Set<string> | Map<string, number>;

/** The value type an op needs its key to hold when it exists, as Redis checks it (none: any). */
const OP_KEY_TYPES: Partial<Record<StoreOp['op'], (value: StoreValue) => boolean>> = {
  incr: (value) => typeof value === 'number' || typeof value === 'string',
  pfadd: (value) => value instanceof Set,
  zadd: (value) => value instanceof Map,
  zremrangebyscore: (value) => value instanceof Map,
  lpush: (value) => Array.isArray(value),
  ltrim: (value) => Array.isArray(value),
};

/** Redis's inclusive, negative-aware index range over a list of `length`, as [from, to) bounds. */
function listBounds(length: number, start: number, stop: number): [number, number] {
  const from = Math.max(0, start < 0 ? length + start : start);
  const to = Math.min(length - 1, stop < 0 ? length + stop : stop);
  return from > to ? [0, 0] : [from, to + 1];
}

/**
 * The in-memory engine's store: keys holding Redis's value types, with expiries. Unique visitors
 * are counted exactly here (a Set) where Redis uses a HyperLogLog.
 */
export class MemoryStore {
  private readonly values = new ExpiringMap<StoreValue>();

  sweep(now: number): void {
    this.values.sweep(now);
  }

  /** Refuses, before anything is written, ops whose key holds another type (as the Redis script does). */
  check(ops: StoreOp[]): void {
    ops.forEach((op, n) => {
      const value = this.values.get(op.key);
      const holds = OP_KEY_TYPES[op.op];
      if (value !== undefined && holds !== undefined && !holds(value)) {
        throw new Error(`commit refused: op ${n + 1} (${op.op}): key holds the wrong type`);
      }
    });
  }

  /** Applies an op (checked first with `check`). */
  apply(op: StoreOp): void {
    switch (op.op) {
      case 'incr': {
        const current = this.values.get(op.key);
        this.values.set(op.key, (typeof current === 'number' ? current : Number(current ?? 0) || 0) + (op.by ?? 1), this.values.ttl(op.key));
        return;
      }
      case 'pfadd': {
        const set = this.values.get(op.key);
        if (set instanceof Set) set.add(op.member);
        else this.values.set(op.key, new Set([op.member]));
        return;
      }
      case 'zadd': {
        const zset = this.values.get(op.key);
        if (zset instanceof Map) zset.set(op.member, op.score);
        else this.values.set(op.key, new Map([[op.member, op.score]]));
        return;
      }
      case 'zremrangebyscore': {
        const zset = this.values.get(op.key);
        if (zset instanceof Map) for (const [member, score] of zset) if (score <= op.max) zset.delete(member);
        return;
      }
      case 'expire':
        this.values.expire(op.key, op.seconds * 1000);
        return;
      case 'setnx':
        if (this.values.get(op.key) === undefined) this.values.set(op.key, op.value, op.seconds * 1000);
        return;
      case 'lpush': {
        const current = this.values.get(op.key);
        const list = Array.isArray(current) ? current : [];
        list.unshift(...[...op.values].reverse());
        if (!Array.isArray(current)) this.values.set(op.key, list);
        return;
      }
      case 'ltrim': {
        const list = this.values.get(op.key);
        if (!Array.isArray(list)) return;
        const [from, to] = listBounds(list.length, op.start, op.stop);
        const kept = list.slice(from, to);
        // Redis removes a list that becomes empty.
        if (kept.length === 0) this.values.delete(op.key);
        else list.splice(0, list.length, ...kept);
        return;
      }
      case 'del':
        this.values.delete(op.key);
        return;
      case 'set':
        this.values.set(op.key, op.value, op.ttlS === undefined ? undefined : op.ttlS * 1000);
        return;
    }
  }

  read(reads: StoreRead[]): number[] {
    return reads.map((read) => {
      const value = this.values.get(read.key);
      switch (read.op) {
        case 'get':
          return typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : 0;
        case 'pfcount':
          return value instanceof Set ? value.size : 0;
        case 'zcount': {
          if (!(value instanceof Map)) return 0;
          let n = 0;
          for (const score of value.values()) if (score >= read.min) n += 1;
          return n;
        }
      }
    });
  }

  readStrings(reads: StringRead[]): string[][] {
    return reads.map((read) => {
      switch (read.op) {
        case 'lrange': {
          const list = this.values.get(read.key);
          return Array.isArray(list) ? list.slice(...listBounds(list.length, read.start, read.stop)) : [];
        }
        case 'zrangebyscore': {
          const zset = this.values.get(read.key);
          if (!(zset instanceof Map)) return [];
          return [...zset]
            .filter(([, score]) => score >= read.min)
            .sort(([ma, a], [mb, b]) => a - b || (ma < mb ? -1 : ma > mb ? 1 : 0))
            .map(([member]) => member);
        }
        case 'mget':
          return read.keys.flatMap((key) => {
            const value = this.values.get(key);
            return typeof value === 'string' ? [value] : typeof value === 'number' ? [String(value)] : [];
          });
      }
    });
  }
}
