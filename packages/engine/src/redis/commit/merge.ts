import type { StoreOp } from '../../engine.js';

/** A Redis command of a merged batch: name, key, arguments. */
export interface MergedCommand {
  name: 'INCRBY' | 'PFADD' | 'ZADD' | 'ZREMRANGEBYSCORE' | 'EXPIRE' | 'SET' | 'LPUSH' | 'LTRIM' | 'DEL';
  key: string;
  args: string[];
}

/** The writes of a batch's entries as few commands, and the type each key must hold (or none) first. */
export interface MergedWrites {
  commands: MergedCommand[];
  checks: { key: string; type: 'string' | 'zset' | 'list' }[];
}

const NEEDS: Partial<Record<StoreOp['op'], 'string' | 'zset' | 'list'>> = {
  incr: 'string',
  pfadd: 'string',
  zadd: 'zset',
  zremrangebyscore: 'zset',
  lpush: 'list',
  ltrim: 'list',
};
const MAKES: Partial<Record<StoreOp['op'], string>> = { set: 'string', setnx: 'string' };
const MERGEABLE = new Set<StoreOp['op']>(['incr', 'pfadd', 'zadd']);
/** Values per command when a long list of members is split (Lua's unpack has a limit). */
const CHUNK = 500;

/** One op as the commands that apply it alone. */
function commandsOf(op: StoreOp): MergedCommand[] {
  const { key } = op;
  switch (op.op) {
    case 'incr':
      return [{ name: 'INCRBY', key, args: [String(op.by ?? 1)] }];
    case 'pfadd':
      return [{ name: 'PFADD', key, args: [op.member] }];
    case 'zadd':
      return [{ name: 'ZADD', key, args: [String(op.score), op.member] }];
    case 'zremrangebyscore':
      return [{ name: 'ZREMRANGEBYSCORE', key, args: ['-inf', String(op.max)] }];
    case 'expire':
      return [{ name: 'EXPIRE', key, args: [String(op.seconds)] }];
    case 'setnx':
      return [{ name: 'SET', key, args: [op.value, 'NX', 'EX', String(op.seconds)] }];
    case 'lpush':
      return chunks(op.values, CHUNK).map((values) => ({ name: 'LPUSH', key, args: values }));
    case 'ltrim':
      return [{ name: 'LTRIM', key, args: [String(op.start), String(op.stop)] }];
    case 'del':
      return [{ name: 'DEL', key, args: [] }];
    case 'set':
      return [{ name: 'SET', key, args: op.ttlS === undefined ? [op.value] : [op.value, 'EX', String(op.ttlS)] }];
  }
}

function chunks<T>(values: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/**
 * Merges the writes of a batch whose entries all apply (pure): a key written only by one of
 * INCR, PFADD or ZADD (and EXPIRE) gets one command of each (the sum, every member once, each
 * member with its last score, the last expiry), which leaves the same state as the ops one by one; any other key
 * keeps its ops, in entry order. Undefined when a key's ops need (or make) different types: the
 * batch then runs entry by entry, where each entry is checked against what the one before made.
 */
export function mergeWrites(opsPerEntry: StoreOp[][]): MergedWrites | undefined {
  const byKey = new Map<string, StoreOp[]>();
  for (const ops of opsPerEntry) {
    for (const op of ops) {
      if (op.op === 'lpush' && op.values.length === 0) continue; // LPUSH needs a value
      let list = byKey.get(op.key);
      if (list === undefined) byKey.set(op.key, (list = []));
      list.push(op);
    }
  }
  const commands: MergedCommand[] = [];
  const checks: MergedWrites['checks'] = [];
  for (const [key, ops] of byKey) {
    const types = new Set<string>();
    for (const op of ops) {
      const type = NEEDS[op.op] ?? MAKES[op.op];
      if (type !== undefined) types.add(type);
    }
    if (types.size > 1) return undefined;
    const needed = ops.map((op) => NEEDS[op.op]).find((type) => type !== undefined);
    if (needed !== undefined) checks.push({ key, type: needed });
    const families = new Set(ops.map((op) => op.op).filter((name) => name !== 'expire'));
    const [family] = families;
    if (families.size > 1 || (family !== undefined && !MERGEABLE.has(family))) {
      for (const op of ops) commands.push(...commandsOf(op));
      continue;
    }
    let expire: string | undefined;
    let by = 0;
    let incr = false;
    // Each member once: adding it again changes nothing (PFADD) or only its score, where the
    // last one wins (ZADD) — the same state for fewer arguments to send and for Redis to apply.
    const scores = new Map<string, number | undefined>();
    for (const op of ops) {
      if (op.op === 'expire') expire = String(op.seconds);
      else if (op.op === 'incr') {
        by += op.by ?? 1;
        incr = true;
      } else if (op.op === 'pfadd') scores.set(op.member, undefined);
      else if (op.op === 'zadd') scores.set(op.member, op.score);
    }
    if (incr) commands.push({ name: 'INCRBY', key, args: [String(by)] });
    const pfadd = family === 'pfadd';
    const members = pfadd ? [...scores.keys()] : [...scores].flatMap(([member, score]) => [String(score), member]);
    for (const args of chunks(members, pfadd ? CHUNK : 2 * CHUNK)) commands.push({ name: pfadd ? 'PFADD' : 'ZADD', key, args });
    if (expire !== undefined) commands.push({ name: 'EXPIRE', key, args: [expire] });
  }
  return { commands, checks };
}
