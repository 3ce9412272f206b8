import { publishesOf, type Commit, type CommitOutcome, type CommitResult, type StoreOp } from './engine.js';

/**
 * The rule every engine applies to a commit before any state changes: numbers where Redis wants
 * whole numbers are whole, scores are finite, times to live are whole seconds (and positive
 * where Redis refuses zero), keys are named, and every frame is a JSON object. A commit that
 * breaks it is refused whole with a TypeError: nothing applied, its entry still pending.
 */
export function validateCommit(commit: Commit): void {
  const { guard } = commit;
  if (guard.kind === 'once') {
    named(guard.key, 'once key');
    positive(guard.ttlS, 'once ttlS');
  } else if (guard.kind === 'entry') {
    named(guard.streamId, 'entry streamId');
    named(guard.consumer, 'entry consumer');
  }
  commit.ops.forEach((op, n) => validateOp(op, `op ${n + 1} (${op.op})`));
  for (const { channel, frame } of publishesOf(commit)) {
    named(channel, 'publish channel');
    if (!isObjectFrame(frame)) throw new TypeError(`frame must be a JSON object (channel ${channel})`);
  }
}

function validateOp(op: StoreOp, what: string): void {
  named(op.key, `${what} key`);
  switch (op.op) {
    case 'incr':
      if (op.by !== undefined) whole(op.by, `${what} by`);
      return;
    case 'pfadd':
      text(op.member, `${what} member`);
      return;
    case 'zadd':
      finite(op.score, `${what} score`);
      text(op.member, `${what} member`);
      return;
    case 'zremrangebyscore':
      finite(op.max, `${what} max`);
      return;
    case 'expire':
      whole(op.seconds, `${what} seconds`);
      return;
    case 'setnx':
      text(op.value, `${what} value`);
      positive(op.seconds, `${what} seconds`);
      return;
    case 'lpush':
      if (!Array.isArray(op.values)) throw new TypeError(`${what} values must be an array`);
      op.values.forEach((value) => text(value, `${what} value`));
      return;
    case 'ltrim':
      whole(op.start, `${what} start`);
      whole(op.stop, `${what} stop`);
      return;
    case 'del':
      return;
    case 'set':
      text(op.value, `${what} value`);
      if (op.ttlS !== undefined) positive(op.ttlS, `${what} ttlS`);
      return;
    default:
      throw new TypeError(`${what}: unknown op`);
  }
}

/** A frame as engines publish it: a JSON object (trailing whitespace allowed). */
const isObjectFrame = (frame: unknown): boolean => {
  if (typeof frame !== 'string') return false;
  const trimmed = frame.trimEnd();
  return trimmed.startsWith('{') && trimmed.endsWith('}');
};

function whole(value: unknown, what: string): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${what} must be a whole number, got ${String(value)}`);
}
function positive(value: unknown, what: string): void {
  whole(value, what);
  if ((value as number) <= 0) throw new TypeError(`${what} must be at least 1, got ${String(value)}`);
}
function finite(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${what} must be a finite number, got ${String(value)}`);
}
function text(value: unknown, what: string): void {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
}
function named(value: unknown, what: string): void {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string`);
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

type CommitFn = (commit: Commit) => Promise<CommitResult>;

/** Issues one commit now; its outcome never rejects. */
function outcomeOf(commit: CommitFn, one: Commit): Promise<CommitOutcome> {
  let pending: Promise<CommitResult>;
  try {
    pending = commit(one);
  } catch (err) {
    pending = Promise.reject(asError(err));
  }
  return pending.then(
    (result): CommitOutcome => ({ ok: true, result }),
    (err: unknown): CommitOutcome => ({ ok: false, error: asError(err) }),
  );
}

/**
 * Commits in order, each issued without waiting for the one before (an engine that sends
 * commands in call order on one connection applies them in that order), one outcome per commit.
 */
export function commitEach(commit: CommitFn, commits: Commit[]): Promise<CommitOutcome[]> {
  return Promise.all(commits.map((one) => outcomeOf(commit, one)));
}

/**
 * Commits in order for an engine that may apply two commits issued at once in either order (a
 * commit spanning several slots of a Redis Cluster runs its last step after the others): a
 * commit waits for the earlier ones that publish on one of its channels to settle; the others
 * are issued at once. One outcome per commit.
 */
export function commitChained(commit: CommitFn, commits: Commit[]): Promise<CommitOutcome[]> {
  const last = new Map<string, Promise<CommitOutcome>>();
  return Promise.all(
    commits.map((one) => {
      const channels = [...new Set(publishesOf(one).map(({ channel }) => channel))];
      const before = channels.flatMap((channel) => last.get(channel) ?? []);
      const outcome = before.length === 0 ? outcomeOf(commit, one) : Promise.all(before).then(() => outcomeOf(commit, one));
      for (const channel of channels) last.set(channel, outcome);
      return outcome;
    }),
  );
}
