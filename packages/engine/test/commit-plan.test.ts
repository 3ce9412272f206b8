import { describe, expect, it } from 'vitest';
import { ANALYTICS_KEYS, CHANNELS, INGEST_GROUP, INGEST_STREAM, logsChannel, LOGS_KEYS } from '@switchboard/protocol';
import type { Commit } from '../src/engine.js';
import { planCommit, STEP_MARKER_TTL_S } from '../src/redis/commit/plan.js';
import { runCommitPlan } from '../src/redis/commit/run.js';
import { channelKeys } from '../src/redis/keys.js';
import { clusterTopology, entryId, keySlot, singleTopology } from '../src/redis/topology.js';

/**
 * The Redis commit path as pure logic: what a commit becomes (steps with their KEYS and ARGV)
 * on one Redis and on a cluster, without a Redis. The contract suite runs the plans for real.
 */
const history = { size: 10, ttlS: 60 };
const epochs = () => {
  let n = 0;
  return () => `e${(n += 1)}`;
};

describe('commit planner, one Redis', () => {
  it('makes one step: the guard key first, op keys and channel keys after, ARGV in the script order', () => {
    const commit: Commit = {
      guard: { kind: 'entry', streamId: '1-0', consumer: 'w1' },
      ops: [
        { op: 'incr', key: 'sb:test:n', by: 2 },
        { op: 'lpush', key: 'sb:test:empty', values: [] },
        { op: 'set', key: 'sb:test:s', value: 'v', ttlS: 5 },
        { op: 'incr', key: 'sb:test:n' },
      ],
      publish: { channel: 'sb:ch:a', frame: '{ }  ' },
    };
    const plan = planCommit(commit, { topology: singleTopology, history, epoch: epochs() });
    expect(plan.sides).toEqual([]);
    expect(plan.publishCount).toBe(1);
    const { position, history: historyKey } = channelKeys('sb:ch:a');
    expect(plan.home).toEqual({
      keys: [INGEST_STREAM, 'sb:test:n', 'sb:test:s', position, historyKey],
      args: [
        'entry', '1-0', INGEST_GROUP, 'w1', '10', '60', 'e1', 'PUBLISH',
        // An LPUSH without values is left out: Redis needs one.
        '3', 'incr', '2', '1', '2', 'setex', '3', '2', 'v', '5', 'incr', '2', '1', '1',
        '1', 'sb:ch:a', '4', '5', '{}',
      ],
      publishes: [0],
    });
  });

  it('starts with the first op key when there is no guard, and with the marker for a once guard', () => {
    const none = planCommit({ guard: { kind: 'none' }, ops: [{ op: 'del', key: 'sb:test:k' }] }, { topology: singleTopology, history, epoch: epochs() });
    expect(none.home.keys).toEqual(['sb:test:k']);
    expect(none.home.args.slice(0, 4)).toEqual(['none', '', INGEST_GROUP, '']);
    const once = planCommit({ guard: { kind: 'once', key: 'sb:test:m', ttlS: 9 }, ops: [] }, { topology: singleTopology, history, epoch: epochs() });
    expect(once.home.keys).toEqual(['sb:test:m']);
    expect(once.home.args.slice(0, 2)).toEqual(['once', '9']);
  });

  it('refuses a commit the rule refuses before planning anything', () => {
    const plan = (commit: Commit) => () => planCommit(commit, { topology: singleTopology, history, epoch: epochs() });
    expect(plan({ guard: { kind: 'none' }, ops: [{ op: 'incr', key: 'k', by: 0.5 }] })).toThrow(TypeError);
    expect(plan({ guard: { kind: 'none' }, ops: [], publish: { channel: 'c', frame: 'null' } })).toThrow(TypeError);
    expect(plan({ guard: { kind: 'once', key: 'm', ttlS: 0 }, ops: [] })).toThrow(TypeError);
  });
});

describe('commit planner, Redis Cluster', () => {
  const topology = clusterTopology(16);

  it('keeps a commit whose keys follow its channel in one step, on the slot of its entry', () => {
    const streamId = entryId(topology, topology.partitionOf(CHANNELS.analytics), '5-0');
    const plan = planCommit(
      {
        guard: { kind: 'entry', streamId, consumer: 'w1' },
        ops: [{ op: 'incr', key: ANALYTICS_KEYS.totalEvents }],
        publish: { channel: CHANNELS.analytics, frame: '{}' },
      },
      { topology, history, epoch: epochs() },
    );
    expect(plan.sides).toEqual([]);
    expect(new Set(plan.home.keys.map(keySlot)).size).toBe(1);
    expect(plan.home.args.slice(0, 2)).toEqual(['entry', '5-0']);
    expect(plan.home.args[7]).toBe('SPUBLISH');
  });

  it('splits a commit spanning slots into once-guarded side steps and the guarded home step', () => {
    const home = topology.partitionOf(CHANNELS.analytics);
    const streamId = entryId(topology, home, '7-1');
    const other = logsChannel('elsewhere');
    expect(topology.partitionOf(other)).not.toBe(home);
    const plan = planCommit(
      {
        guard: { kind: 'entry', streamId, consumer: 'w1' },
        ops: [{ op: 'incr', key: ANALYTICS_KEYS.totalEvents }, { op: 'lpush', key: LOGS_KEYS.history('elsewhere'), values: ['x'] }],
        publish: [{ channel: other, frame: '{"side":1}' }, { channel: CHANNELS.analytics, frame: '{"home":1}' }],
      },
      { topology, history, epoch: epochs() },
    );
    expect(plan.publishCount).toBe(2);
    expect(plan.home.publishes).toEqual([1]);
    expect(plan.home.keys[0]).toBe(topology.ingestStream(home));
    expect(plan.sides).toHaveLength(1);
    const [side] = plan.sides;
    expect(side!.publishes).toEqual([0]);
    // The side step is guarded by a marker on its own slot, named after the entry.
    expect(side!.args.slice(0, 2)).toEqual(['once', String(STEP_MARKER_TTL_S)]);
    expect(side!.keys[0]).toMatch(/^sb:step:\{[^}]+\}:7-1@/);
    for (const step of [side!, plan.home]) expect(new Set(step.keys.map(keySlot)).size).toBe(1);
    expect(keySlot(side!.keys[0]!)).not.toBe(keySlot(plan.home.keys[0]!));
  });
});

describe('commit runner', () => {
  const topology = clusterTopology(16);
  const streamId = entryId(topology, topology.partitionOf(CHANNELS.analytics), '7-1');
  const plan = planCommit(
    {
      guard: { kind: 'entry', streamId, consumer: 'w1' },
      ops: [],
      publish: [{ channel: logsChannel('elsewhere'), frame: '{}' }, { channel: CHANNELS.analytics, frame: '{}' }],
    },
    { topology, history, epoch: epochs() },
  );

  it('runs the side steps before the home step and reports each frame\'s offset in publish order', async () => {
    const order: string[] = [];
    const result = await runCommitPlan(plan, (step) => {
      order.push(step === plan.home ? 'home' : 'side');
      return Promise.resolve(step === plan.home ? [1, 7] : [1, 3]);
    });
    expect(order).toEqual(['side', 'home']);
    expect(result).toEqual({ applied: true, offset: 3, offsets: [3, 7] });
  });

  it('reports no offsets when a side step was applied before, and not applied when the home step refuses', async () => {
    expect(await runCommitPlan(plan, (step) => Promise.resolve(step === plan.home ? [1, 7] : [0]))).toEqual({ applied: true });
    expect(await runCommitPlan(plan, (step) => Promise.resolve(step === plan.home ? [0] : [1, 3]))).toEqual({ applied: false });
  });
});
