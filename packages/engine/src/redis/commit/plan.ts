import { INGEST_GROUP, KEY_PREFIX } from '@switchboard/protocol';
import { validateCommit } from '../../commit-rules.js';
import { publishesOf, type Commit, type HistoryLimits, type StoreOp } from '../../engine.js';
import { commitScriptCall, type ScriptCall, type ScriptGuard } from '../scripts/commit.js';
import { entryAddress, hashTagOf, type Topology } from '../topology.js';

/** How long the marker of one step of a commit spanning several slots is kept (s). */
export const STEP_MARKER_TTL_S = 86_400;

/** Prefix of the markers that make each step of a multi-slot commit apply once. */
const KEY_PREFIX_STEP = `${KEY_PREFIX}step:`;

/** One run of the commit script: its keys all in one slot. */
export interface CommitStep extends ScriptCall {
  /** The indexes (in the commit's `publish` order) of the frames this step publishes, in order. */
  publishes: number[];
}

/**
 * How a commit runs. One Redis: one step. A Redis Cluster: one step per slot its keys fall in;
 * the `home` step holds the guard (the entry's stream) and runs last, after every `side` step,
 * each of which is guarded by a marker of its own so a redelivered entry skips those applied.
 */
export interface CommitPlan {
  sides: CommitStep[];
  home: CommitStep;
  /** How many frames the commit publishes. */
  publishCount: number;
}

export interface PlanContext {
  topology: Topology;
  history: HistoryLimits;
  /** A new epoch candidate for each step (for a channel that has none). */
  epoch: () => string;
}

/** The ops and frames (by index) of one step. */
interface Group {
  ops: StoreOp[];
  publishes: number[];
}

/**
 * Plans a commit: checks it (`validateCommit`, before anything reaches Redis), maps every key
 * to where the topology stores it, and splits it into per-slot steps with their KEYS and ARGV.
 * Pure: the same commit, topology and epochs always give the same plan.
 */
export function planCommit(commit: Commit, { topology, history, epoch }: PlanContext): CommitPlan {
  validateCommit(commit);
  const frames = publishesOf(commit);
  const ops = commit.ops.map((op) => ({ ...op, key: topology.stateKey(op.key) }));
  const { guard } = commit;
  let scriptGuard: ScriptGuard = { kind: 'none' };
  let guardKey: string | undefined;
  let stepId: string | undefined;
  if (guard.kind === 'entry') {
    const entry = entryAddress(topology, guard.streamId);
    guardKey = topology.ingestStream(entry.partition);
    scriptGuard = { kind: 'entry', stream: guardKey, id: entry.id, consumer: guard.consumer };
    stepId = `${entry.id}@${entry.partition}`;
  } else if (guard.kind === 'once') {
    guardKey = topology.stateKey(guard.key);
    scriptGuard = { kind: 'once', marker: guardKey, ttlS: guard.ttlS };
    stepId = guardKey;
  }

  const step = (group: Group, stepGuard: ScriptGuard): CommitStep => ({
    ...commitScriptCall({
      guard: stepGuard,
      group: INGEST_GROUP,
      history,
      epoch: epoch(),
      publishCommand: topology.cluster ? 'SPUBLISH' : 'PUBLISH',
      ops: group.ops,
      publishes: group.publishes.map((index) => {
        const { channel, frame } = frames[index] as (typeof frames)[number];
        return { ...topology.channel(channel), frame };
      }),
    }),
    publishes: group.publishes,
  });
  const all: Group = { ops, publishes: frames.map((_, index) => index) };
  if (!topology.cluster) return { sides: [], home: step(all, scriptGuard), publishCount: frames.length };

  // One group per slot the keys fall in; the guard's slot (the entry's stream) is the home group.
  const groups = new Map<number, Group>();
  const groupOf = (key: string): Group => {
    const slot = topology.groupOf(key);
    let group = groups.get(slot);
    if (group === undefined) groups.set(slot, (group = { ops: [], publishes: [] }));
    return group;
  };
  const guarded = guardKey === undefined ? undefined : groupOf(guardKey);
  for (const op of ops) groupOf(op.key).ops.push(op);
  for (const index of all.publishes) groupOf(topology.channel((frames[index] as (typeof frames)[number]).channel).position).publishes.push(index);
  const home = guarded ?? [...groups.values()][0] ?? { ops: [], publishes: [] };

  const sides = [...groups.values()]
    .filter((group) => group !== home)
    .map((group) => {
      const sample = group.ops[0]?.key ?? topology.channel(frames[group.publishes[0] ?? 0]?.channel ?? '').position;
      const marker = stepId === undefined ? undefined : `${KEY_PREFIX_STEP}{${hashTagOf(sample)}}:${stepId}`;
      return step(group, marker === undefined ? { kind: 'none' } : { kind: 'once', marker, ttlS: STEP_MARKER_TTL_S });
    });
  return { sides, home: step(home, scriptGuard), publishCount: frames.length };
}
