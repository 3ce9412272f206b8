import type { Cluster, Redis, Result } from 'ioredis';
import type { Commit, CommitResult } from '../../engine.js';
import { COMMIT_SCRIPT } from '../scripts/commit.js';
import { planCommit, type CommitPlan, type CommitStep, type PlanContext } from './plan.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbCommit(...args: (string | number | Buffer)[]): Result<number[], Context>;
  }
}

/** Defines the commit script on a client (as `sbCommit`), before `commitWith` uses it. */
export function defineCommitScript(client: Redis | Cluster): void {
  client.defineCommand('sbCommit', { lua: COMMIT_SCRIPT });
}

/**
 * Plans and runs a commit on a client the commit script was defined on. Rejects, before anything
 * reaches Redis, when `validateCommit` refuses it.
 */
export async function commitWith(client: Redis | Cluster, commit: Commit, context: PlanContext): Promise<CommitResult> {
  const plan = planCommit(commit, context);
  return runCommitPlan(plan, (step) => client.sbCommit(step.keys.length, ...step.keys, ...step.args));
}

/** Runs one step's script: resolves with its reply, {applied (0|1), offsets...}. */
export type StepRunner = (step: CommitStep) => Promise<number[]>;

export const withOffsets = (offsets: number[]): CommitResult =>
  offsets.length === 0 ? { applied: true } : { applied: true, offset: offsets[0], offsets };

/**
 * Runs a commit plan: the side steps first, at once (each applies once thanks to its marker),
 * then the home step, which settles the guard. So the entry is acknowledged only when every step
 * is done, and a redelivery skips the steps already applied (whose offsets are then unknown).
 */
export async function runCommitPlan(plan: CommitPlan, run: StepRunner): Promise<CommitResult> {
  const offsets = new Array<number>(plan.publishCount).fill(0);
  let complete = true;
  if (plan.sides.length > 0) {
    await Promise.all(
      plan.sides.map(async (step) => {
        const [applied, ...stepOffsets] = await run(step);
        if (applied !== 1) complete = false;
        step.publishes.forEach((index, n) => (offsets[index] = stepOffsets[n] ?? 0));
      }),
    );
  }
  const [applied, ...homeOffsets] = await run(plan.home);
  if (applied !== 1) return { applied: false };
  plan.home.publishes.forEach((index, n) => (offsets[index] = homeOffsets[n] ?? 0));
  // A step a previous delivery applied did not report its offsets again.
  return complete ? withOffsets(offsets) : { applied: true };
}
