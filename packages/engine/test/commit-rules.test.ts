import { describe, expect, it } from 'vitest';
import { commitChained, commitEach, validateCommit } from '../src/commit-rules.js';
import type { Commit, CommitResult, StoreOp } from '../src/engine.js';

const withOps = (...ops: StoreOp[]): Commit => ({ guard: { kind: 'none' }, ops });

describe('validateCommit', () => {
  it('accepts whole numbers, finite scores, positive TTLs and JSON-object frames', () => {
    expect(() =>
      validateCommit({
        guard: { kind: 'once', key: 'm', ttlS: 1 },
        ops: [
          { op: 'incr', key: 'k', by: -3 },
          { op: 'zadd', key: 'z', score: 1.5, member: 'm' },
          { op: 'zremrangebyscore', key: 'z', max: -2.5 },
          { op: 'expire', key: 'k', seconds: 10 },
          { op: 'setnx', key: 's', value: 'v', seconds: 1 },
          { op: 'lpush', key: 'l', values: [] },
          { op: 'ltrim', key: 'l', start: 0, stop: -1 },
          { op: 'del', key: 'k' },
          { op: 'set', key: 's', value: 'v' },
        ],
        publish: [{ channel: 'c', frame: '{}' }, { channel: 'c', frame: '{"a":1}\n' }],
      }),
    ).not.toThrow();
  });

  it.each<[string, Commit]>([
    ['a fractional incr', withOps({ op: 'incr', key: 'k', by: 1.5 })],
    ['an unsafe incr', withOps({ op: 'incr', key: 'k', by: 2 ** 60 })],
    ['a NaN score', withOps({ op: 'zadd', key: 'z', score: Number.NaN, member: 'm' })],
    ['an infinite max', withOps({ op: 'zremrangebyscore', key: 'z', max: Number.POSITIVE_INFINITY })],
    ['fractional expire seconds', withOps({ op: 'expire', key: 'k', seconds: 0.5 })],
    ['a zero setnx TTL', withOps({ op: 'setnx', key: 'k', value: 'v', seconds: 0 })],
    ['a fractional set TTL', withOps({ op: 'set', key: 'k', value: 'v', ttlS: 1.5 })],
    ['a fractional ltrim bound', withOps({ op: 'ltrim', key: 'l', start: 0.5, stop: 1 })],
    ['an empty key', withOps({ op: 'del', key: '' })],
    ['an unknown op', withOps({ op: 'hset', key: 'h' } as unknown as StoreOp)],
    ['a once guard with a zero TTL', { guard: { kind: 'once', key: 'm', ttlS: 0 }, ops: [] }],
    ['a frame that is an array', { guard: { kind: 'none' }, ops: [], publish: { channel: 'c', frame: '[1]' } }],
    ['a frame that is not JSON', { guard: { kind: 'none' }, ops: [], publish: { channel: 'c', frame: 'hello' } }],
    ['a later bad frame', { guard: { kind: 'none' }, ops: [], publish: [{ channel: 'c', frame: '{}' }, { channel: 'c', frame: '"x"' }] }],
  ])('refuses %s with a TypeError', (_what, commit) => {
    expect(() => validateCommit(commit)).toThrow(TypeError);
  });
});

describe('commitEach', () => {
  it('issues every commit at once, in order, and answers one outcome per commit', async () => {
    const issued: number[] = [];
    const resolvers: ((result: CommitResult) => void)[] = [];
    const commits = [0, 1, 2].map((n): Commit => withOps({ op: 'incr', key: `k${n}` }));
    const outcomes = commitEach((commit) => {
      const n = Number(commit.ops[0]!.key.slice(1));
      issued.push(n);
      if (n === 1) throw new Error('refused');
      return new Promise((resolve) => resolvers.push(resolve));
    }, commits);
    // Every commit was issued before any of them settled.
    expect(issued).toEqual([0, 1, 2]);
    resolvers[1]!({ applied: false });
    resolvers[0]!({ applied: true });
    expect(await outcomes).toEqual([
      { ok: true, result: { applied: true } },
      { ok: false, error: new Error('refused') },
      { ok: true, result: { applied: false } },
    ]);
  });
});

describe('commitChained', () => {
  it('issues a commit once the earlier ones on its channels settled, the others at once', async () => {
    const on = (channel: string, n: number): Commit => ({ guard: { kind: 'none' }, ops: [{ op: 'incr', key: `k${n}` }], publish: { channel, frame: '{}' } });
    const issued: number[] = [];
    const settle = new Map<number, (result: CommitResult) => void>();
    const outcomes = commitChained((commit) => {
      const n = Number(commit.ops[0]!.key.slice(1));
      issued.push(n);
      return new Promise((resolve, reject) => settle.set(n, (result) => (n === 0 ? reject(new Error('refused')) : resolve(result))));
    }, [on('x', 0), on('y', 1), on('x', 2), { guard: { kind: 'none' }, ops: [{ op: 'del', key: 'k3' }] }]);
    // Commit 2 shares channel x with commit 0: it waits; the others go at once.
    expect(issued).toEqual([0, 1, 3]);
    settle.get(0)!({ applied: true });
    await new Promise((resolve) => setImmediate(resolve));
    // A refused commit releases the next one all the same.
    expect(issued).toEqual([0, 1, 3, 2]);
    for (const n of [1, 2, 3]) settle.get(n)!({ applied: true });
    expect((await outcomes).map((o) => o.ok)).toEqual([false, true, true, true]);
  });
});
