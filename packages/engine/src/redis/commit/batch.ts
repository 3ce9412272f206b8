import type { Cluster, Redis, Result } from 'ioredis';
import { INGEST_GROUP } from '@switchboard/protocol';
import { validateCommit } from '../../commit-rules.js';
import { publishesOf, type Commit, type CommitOutcome } from '../../engine.js';
import { BATCH_COMMIT_SCRIPT, batchCommitScriptCall, type BatchEntryInput } from '../scripts/batch-commit.js';
import type { ScriptCall } from '../scripts/commit.js';
import { entryAddress, type ChannelNames } from '../topology.js';
import { MERGED_BATCH_COMMIT_SCRIPT, inStreamOrder, mergedBatchScriptCall, mergedOffsets, type MergedBatchCall } from '../scripts/merged-batch-commit.js';
import { mergeWrites } from './merge.js';
import type { PlanContext } from './plan.js';
import { withOffsets } from './run.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbCommitBatch(...args: (string | number | Buffer)[]): Result<unknown[], Context>;
    sbCommitMerged(...args: (string | number | Buffer)[]): Result<unknown[], Context>;
  }
}

/** Defines the batch commit scripts on a client, before `commitBatchWith` uses them. */
export function defineBatchCommitScript(client: Redis | Cluster): void {
  client.defineCommand('sbCommitBatch', { lua: BATCH_COMMIT_SCRIPT });
  client.defineCommand('sbCommitMerged', { lua: MERGED_BATCH_COMMIT_SCRIPT });
}

/**
 * The runs for one partition stream and consumer: the merged fast path when the entries'
 * writes merge, and the entry-by-entry call (built when needed) for when it answers 'split'.
 */
export interface BatchCall {
  /** The input indexes of the commits, in entry order. */
  commits: number[];
  merged: MergedBatchCall | undefined;
  entryByEntry: () => ScriptCall;
}

/**
 * How a batch of commits runs: one script call (two when the merged fast path answers 'split')
 * per partition stream and consumer for the entry
 * commits whose keys all share the stream's slot (every one on a single Redis); the others one
 * by one through the single-commit path (`alone`); those `validateCommit` refused, not at all.
 */
export interface BatchPlan {
  calls: BatchCall[];
  alone: number[];
  refused: Map<number, Error>;
}

/**
 * How long an older entry in another live consumer's hands holds a batch back: a batch of a
 * loaded worker takes far less; an entry held longer is failing and is retried later.
 */
export const ORDER_WAIT_MS = 3_000;
/** Pauses between the sends of a batch told to wait: short, doubling up to 20 ms. */
const WAIT_FIRST_MS = 1;
const WAIT_MAX_MS = 20;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends a batch call until it is no longer told to wait for an older entry. */
async function untilInTurn(send: () => Promise<unknown[]>): Promise<unknown[]> {
  for (let wait = WAIT_FIRST_MS; ; wait = Math.min(WAIT_MAX_MS, wait * 2)) {
    const replies = await send();
    if (replies[0] !== 'wait') return replies;
    await pause(wait);
  }
}

/** What the batch scripts take as an entry id (their lists of ids are comma-separated). */
const STREAM_ID = /^\d+-\d+$/;

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** Plans a batch (pure): checks each commit, maps its keys, groups the entries per stream and consumer. */
export function planBatch(commits: Commit[], { topology, history, epoch }: PlanContext): BatchPlan {
  const groups = new Map<string, { partition: number; stream: string; consumer: string; commits: number[]; entries: BatchEntryInput[] }>();
  const alone: number[] = [];
  const refused = new Map<number, Error>();
  // A batch's entries mostly publish on a few channels: their names worked out once each.
  const channelNames = new Map<string, ChannelNames>();
  const namesOf = (channel: string): ChannelNames => {
    let names = channelNames.get(channel);
    if (names === undefined) channelNames.set(channel, (names = topology.channel(channel)));
    return names;
  };
  commits.forEach((commit, index) => {
    const { guard } = commit;
    try {
      validateCommit(commit);
      if (guard.kind !== 'entry') {
        alone.push(index);
        return;
      }
      const { partition, id } = entryAddress(topology, guard.streamId);
      if (!STREAM_ID.test(id)) throw new TypeError(`not a stream id: ${guard.streamId}`);
      const stream = topology.ingestStream(partition);
      const ops = commit.ops.map((op) => {
        const key = topology.stateKey(op.key);
        return key === op.key ? op : { ...op, key };
      });
      const publishes = publishesOf(commit).map(({ channel, frame }) => ({ ...namesOf(channel), frame }));
      if (topology.cluster) {
        const slot = topology.groupOf(stream);
        const keys = [...ops.map((op) => op.key), ...publishes.flatMap((p) => [p.position, p.history])];
        if (keys.some((key) => topology.groupOf(key) !== slot)) {
          alone.push(index);
          return;
        }
      }
      const name = `${stream}\n${guard.consumer}`;
      let group = groups.get(name);
      if (group === undefined) groups.set(name, (group = { partition, stream, consumer: guard.consumer, commits: [], entries: [] }));
      group.commits.push(index);
      group.entries.push({ id, ops, publishes });
    } catch (err) {
      refused.set(index, asError(err));
    }
  });
  const calls = [...groups.values()].map(({ partition, stream, consumer, commits: indexes, entries }): BatchCall => {
    const ids = inStreamOrder(entries.map((entry) => entry.id));
    const [firstId = '0-0', lastId = '0-0'] = [ids[0], ids[ids.length - 1]];
    const common = {
      stream,
      group: INGEST_GROUP,
      consumer,
      history,
      epoch: epoch(),
      publishCommand: topology.cluster ? ('SPUBLISH' as const) : ('PUBLISH' as const),
      firstId,
      lastId,
      orderWaitMs: ORDER_WAIT_MS,
      alivePrefix: topology.consumerAliveKey(partition, ''),
    };
    const writes = mergeWrites(entries.map((entry) => entry.ops));
    return {
      commits: indexes,
      merged: writes === undefined ? undefined : mergedBatchScriptCall({ ...common, writes, entries }),
      entryByEntry: () => batchCommitScriptCall({ ...common, entries }),
    };
  });
  return { calls, alone, refused };
}

/** One entry's reply: {1, offsets...} applied, {0} not pending for this consumer any more, {-1, reason} refused. */
function outcomeOf(reply: unknown): CommitOutcome {
  if (!Array.isArray(reply)) return { ok: false, error: new Error('batch commit: malformed reply') };
  const [status, ...rest] = reply as unknown[];
  if (status === 1) return { ok: true, result: withOffsets(rest.map(Number)) };
  if (status === 0) return { ok: true, result: { applied: false } };
  const reason = rest[0];
  return { ok: false, error: new Error(typeof reason === 'string' ? reason : 'batch commit: refused') };
}

/**
 * Runs a batch: every script call and every lone commit issued at once (pipelined), one outcome
 * per commit in input order. A call that fails as a whole (Redis away) fails its entries only;
 * they stay pending.
 */
export async function commitBatchWith(
  client: Redis | Cluster,
  commits: Commit[],
  context: PlanContext,
  commitAlone: (commits: Commit[]) => Promise<CommitOutcome[]>,
): Promise<CommitOutcome[]> {
  const plan = planBatch(commits, context);
  const outcomes = new Array<CommitOutcome>(commits.length);
  for (const [index, error] of plan.refused) outcomes[index] = { ok: false, error };
  const calls = plan.calls.map(async ({ commits: indexes, merged, entryByEntry }) => {
    try {
      const firsts = merged === undefined ? undefined : await untilInTurn(() => client.sbCommitMerged(merged.keys.length, ...merged.keys, ...merged.args));
      if (merged !== undefined && firsts !== undefined && firsts[0] !== 'split') {
        const offsets = mergedOffsets(merged.frameChannels, firsts.map(Number));
        indexes.forEach((index, n) => (outcomes[index] = { ok: true, result: withOffsets(offsets[n] ?? []) }));
        return;
      }
      const { keys, args } = entryByEntry();
      const replies = await untilInTurn(() => client.sbCommitBatch(keys.length, ...keys, ...args));
      indexes.forEach((index, n) => (outcomes[index] = outcomeOf(replies[n])));
    } catch (err) {
      for (const index of indexes) outcomes[index] = { ok: false, error: asError(err) };
    }
  });
  const lone = commitAlone(plan.alone.map((index) => commits[index] as Commit)).then((results) => results.forEach((outcome, n) => (outcomes[plan.alone[n] as number] = outcome)));
  await Promise.all([...calls, lone]);
  return outcomes;
}
