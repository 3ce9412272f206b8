import { describe, expect, it } from 'vitest';
import { INGEST_GROUP, INGEST_STREAM } from '@switchboard/protocol';
import type { Commit } from '../src/engine.js';
import { ORDER_WAIT_MS, planBatch } from '../src/redis/commit/batch.js';
import { mergeWrites } from '../src/redis/commit/merge.js';
import { inStreamOrder, mergedOffsets } from '../src/redis/scripts/merged-batch-commit.js';
import { channelKeys } from '../src/redis/keys.js';
import { singleTopology } from '../src/redis/topology.js';

/** The batch commit path as pure logic, without a Redis (the engine tests run it for real). */
const context = { topology: singleTopology, history: { size: 10, ttlS: 60 }, epoch: () => 'e1' };
const entry = (streamId: string, consumer = 'w1'): Commit['guard'] => ({ kind: 'entry', streamId, consumer });

describe('mergeWrites', () => {
  it('writes a key touched by one of INCR, PFADD or ZADD (and EXPIRE) once, as the ops one by one would leave it (each member once, with its last score)', () => {
    const merged = mergeWrites([
      [
        { op: 'incr', key: 'n' },
        { op: 'expire', key: 'n', seconds: 5 },
        { op: 'pfadd', key: 'h', member: 'a' },
        { op: 'zadd', key: 'z', score: 1, member: 'm' },
      ],
      [
        { op: 'incr', key: 'n', by: 3 },
        { op: 'expire', key: 'n', seconds: 9 },
        { op: 'pfadd', key: 'h', member: 'b' },
        { op: 'zadd', key: 'z', score: 2, member: 'm' },
      ],
      [
        { op: 'pfadd', key: 'h', member: 'a' },
        { op: 'zadd', key: 'z', score: 3, member: 'o' },
      ],
    ]);
    expect(merged).toEqual({
      commands: [
        { name: 'INCRBY', key: 'n', args: ['4'] },
        { name: 'EXPIRE', key: 'n', args: ['9'] },
        { name: 'PFADD', key: 'h', args: ['a', 'b'] },
        { name: 'ZADD', key: 'z', args: ['2', 'm', '3', 'o'] },
      ],
      checks: [
        { key: 'n', type: 'string' },
        { key: 'h', type: 'string' },
        { key: 'z', type: 'zset' },
      ],
    });
  });

  it('keeps the ops of any other key in entry order, and gives up when a key needs two types', () => {
    const lists = mergeWrites([
      [{ op: 'lpush', key: 'l', values: ['1'] }, { op: 'ltrim', key: 'l', start: 0, stop: 1 }],
      [{ op: 'lpush', key: 'l', values: [] }, { op: 'lpush', key: 'l', values: ['2'] }, { op: 'setnx', key: 'o', value: 'x', seconds: 5 }],
    ]);
    expect(lists?.commands).toEqual([
      { name: 'LPUSH', key: 'l', args: ['1'] },
      { name: 'LTRIM', key: 'l', args: ['0', '1'] },
      { name: 'LPUSH', key: 'l', args: ['2'] },
      { name: 'SET', key: 'o', args: ['x', 'NX', 'EX', '5'] },
    ]);
    expect(lists?.checks).toEqual([{ key: 'l', type: 'list' }]);
    expect(mergeWrites([[{ op: 'set', key: 'k', value: 'v' }], [{ op: 'lpush', key: 'k', values: ['x'] }]])).toBeUndefined();
    expect(mergeWrites([[{ op: 'incr', key: 'k' }], [{ op: 'zadd', key: 'k', score: 1, member: 'm' }]])).toBeUndefined();
  });
});

describe('planBatch, one Redis', () => {
  it('puts the entry commits of one consumer in one call, the others alone, and refuses what validateCommit refuses', () => {
    const commits: Commit[] = [
      { guard: entry('5-1'), ops: [{ op: 'incr', key: 'n' }], publish: { channel: 'sb:ch:a', frame: '{"n":1}' } },
      { guard: { kind: 'none' }, ops: [{ op: 'incr', key: 'n' }] },
      { guard: entry('5-0'), ops: [{ op: 'incr', key: 'n', by: 0.5 }] },
      { guard: entry('4-9'), ops: [{ op: 'incr', key: 'n' }], publish: { channel: 'sb:ch:a', frame: '{}' } },
      { guard: entry('6-0', 'w2'), ops: [] },
      // Not a stream id: the scripts' id lists are comma-separated.
      { guard: entry('7-0,8-0'), ops: [] },
    ];
    const plan = planBatch(commits, context);
    expect(plan.alone).toEqual([1]);
    expect([...plan.refused.keys()]).toEqual([2, 5]);
    expect(plan.refused.get(5)?.message).toMatch(/not a stream id/);
    expect(plan.calls.map((call) => call.commits)).toEqual([[0, 3], [4]]);
    const { position, history } = channelKeys('sb:ch:a');
    const merged = plan.calls[0]!.merged!;
    expect(merged.keys).toEqual([INGEST_STREAM, 'n', position, history]);
    // The id range is the lowest and the highest id, whatever the order of the entries.
    expect(merged.args.slice(0, 12)).toEqual([INGEST_GROUP, 'w1', '10', '60', 'e1', 'PUBLISH', '4-9', '5-1', '2', String(ORDER_WAIT_MS), 'sb:worker:alive:', '1']);
    // Checks, merged commands, the channel list (names, frame count, the message's lengths built
    // once), the ids in stream order as one argument, and the frames by channel: each frame once
    // (the script concatenates a channel's message body from them).
    expect(merged.args.slice(12)).toEqual(['2', 'string', '1', 'INCRBY', '2', '1', '2', '1', 'sb:ch:a', '3', '4', '2', '7,2', '4-9,5-1', '{"n":1}', '{}']);
    // Each entry's frames by channel number: the reply (each channel's first offset) gives their offsets.
    expect(merged.frameChannels).toEqual([[0], [0]]);
    expect(mergedOffsets(merged.frameChannels, [41])).toEqual([[41], [42]]);
    // A channel's frames take consecutive offsets in entry order, whatever the other channels do.
    expect(mergedOffsets([[0, 1], [1], [], [0]], [10, 20])).toEqual([[10, 20], [21], [], [11]]);
    const entryByEntry = plan.calls[0]!.entryByEntry();
    expect(entryByEntry.keys).toEqual([INGEST_STREAM, 'n', position, history]);
    expect(entryByEntry.args.slice(11)).toEqual(['5-1', '1', 'incr', '2', '1', '1', '1', 'sb:ch:a', '3', '4', '{"n":1}', '4-9', '1', 'incr', '2', '1', '1', '1', 'sb:ch:a', '3', '4', '{}']);
  });
});

describe('inStreamOrder', () => {
  it('keeps ids already in stream order as they are, and sorts the others as numbers of any length', () => {
    const ordered = ['9-5', '9-10', '10-0', '1700000000000-0'];
    expect(inStreamOrder(ordered)).toBe(ordered);
    expect(inStreamOrder(['10-0', '9-10', '9-5', '1700000000000-0', '1600000000000-3'])).toEqual(['9-5', '9-10', '10-0', '1600000000000-3', '1700000000000-0']);
    expect(inStreamOrder(['5-1', '4-9'])).toEqual(['4-9', '5-1']);
  });
});
