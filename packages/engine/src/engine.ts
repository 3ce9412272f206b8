/**
 * The engine is everything a gateway or worker shares with the rest of the cluster. Two
 * implementations keep one contract: Redis (any number of nodes) and in-memory (one process).
 * Product code only ever talks to this interface.
 */

import type { ChannelPosition } from '@switchboard/protocol';
import type { DeadLetters } from './dead-letters.js';
import type { Presence } from './presence.js';

/** One entry read from the ingest stream. */
export interface StreamEntry {
  /** Stream entry id (`<ms>-<seq>` on Redis). */
  streamId: string;
  fields: Record<string, string>;
  /** How many times the group delivered this entry (1 on first delivery). */
  deliveries: number;
}

/** A store mutation applied inside a commit. Keys are full key names (see protocol/names). */
export type StoreOp =
  | { op: 'incr'; key: string; /** Amount (INCRBY); 1 when omitted. */ by?: number }
  | { op: 'pfadd'; key: string; member: string }
  | { op: 'zadd'; key: string; score: number; member: string }
  | { op: 'zremrangebyscore'; key: string; max: number }
  | { op: 'expire'; key: string; seconds: number }
  /** SET key value NX EX seconds: the first writer wins. */
  | { op: 'setnx'; key: string; value: string; seconds: number }
  /** Pushes each value onto the head of a list, in order: the last value ends up first. */
  | { op: 'lpush'; key: string; values: string[] }
  /** Keeps only the list elements from `start` to `stop` (inclusive, 0-based; -1 = last). */
  | { op: 'ltrim'; key: string; start: number; stop: number }
  | { op: 'del'; key: string }
  /** Sets a string value, expiring after `ttlS` seconds when given. */
  | { op: 'set'; key: string; value: string; ttlS?: number };

/** A store read, answered with a number (missing key → 0). */
export type StoreRead =
  | { op: 'get'; key: string }
  | { op: 'pfcount'; key: string }
  | { op: 'zcount'; key: string; min: number };

/** A store read answered with strings. */
export type StringRead =
  /** List elements from `start` to `stop` (inclusive, 0-based; -1 = last); head first. */
  | { op: 'lrange'; key: string; start: number; stop: number }
  /** Sorted-set members whose score is at least `min`, lowest score first. */
  | { op: 'zrangebyscore'; key: string; min: number }
  /** The values of those keys that hold a string, in key order (missing keys are left out). */
  | { op: 'mget'; keys: string[] };

/**
 * What makes a commit happen at most once.
 * - `entry`: the ingest entry being processed. The commit applies only while `consumer` still
 *   owns the entry (it is pending for it), and acknowledges it in the same atomic step, so an
 *   entry is applied exactly once even when a slow worker and the one that claimed it race.
 * - `once`: a marker key for work that has no stream entry (a heartbeat slot).
 * - `none`: no guard, for writes that may be repeated harmlessly (a node reporting its figures).
 */
export type CommitGuard =
  | { kind: 'entry'; streamId: string; consumer: string }
  | { kind: 'once'; key: string; ttlS: number }
  | { kind: 'none' };

/** A frame (JSON object) to publish; the engine appends the channel's next `offset`. */
export interface Publish {
  channel: string;
  frame: string;
}

/** Everything that must happen together for one event, applied atomically. */
export interface Commit {
  guard: CommitGuard;
  ops: StoreOp[];
  /** One frame, or several (each channel numbers its own offsets), published after the ops. */
  publish?: Publish | Publish[];
}

export interface CommitResult {
  /** False when the guard refused: the entry belongs to another consumer, or the marker existed. */
  applied: boolean;
  /** The offset the (first) frame was published with. */
  offset?: number;
  /** The offsets of every published frame, in `publish` order. */
  offsets?: number[];
}

/** The frames of a commit as a list. */
export const publishesOf = (commit: Commit): Publish[] =>
  commit.publish === undefined ? [] : Array.isArray(commit.publish) ? commit.publish : [commit.publish];

/** What makes an ingest append happen at most once per key (see `Engine.appendIngestOnce`). */
export interface IngestOnce {
  /** The marker key (protocol `ingestDedupeKey`). */
  key: string;
  /** How long the key is remembered, in seconds; a later append with it stores a new entry. */
  ttlS: number;
  /** Kept in the marker and answered to every later append with the same key. */
  value: string;
}

/** The outcome of `appendIngestOnce`. */
export type AppendOnceResult =
  /** First append with this key: the entry is stored under `streamId`. */
  | { duplicate: false; streamId: string }
  /** The key was already used within its TTL: nothing was stored; `value` is what the first append kept. */
  | { duplicate: true; value: string };

export type EngineHealth = 'up' | 'down' | 'memory';

/** A frame published on a channel, as subscribers receive it and as history keeps it. */
export interface ChannelMessage {
  /** The JSON frame exactly as clients get it, `"offset":N` appended. */
  frame: string;
  offset: number;
  /** The channel's epoch when the frame was published. */
  epoch: string;
}

/** Where a channel stands (its latest offset in its epoch): the protocol's one position shape. */
export type { ChannelPosition } from '@switchboard/protocol';

/** What a client last processed on a channel: `since` is the offset of its last frame. */
export interface HistoryRequest {
  epoch: string;
  since: number;
  /**
   * When `epoch` is not the channel's (Redis lost the channel and it started a new epoch): answer
   * every frame of the new epoch, from its offset 1, when its history still holds them all
   * (`recovered: true, epochChanged: true`); otherwise `recovered: false` as without it.
   */
  acrossEpochs?: boolean;
}

/**
 * The frames after a client's position, when the channel still has them all:
 * - `recovered: true`: same epoch, and `messages` are every frame after `since`, in offset order
 *   (empty when `since` is the latest offset);
 * - `recovered: false`: another epoch, or `since` older than the history, or beyond the latest
 *   offset, or not a whole number: the client must rebuild its state;
 * - `recovered: true, epochChanged: true` (only for `acrossEpochs`): another epoch, and
 *   `messages` are every frame of the channel's epoch, from offset 1; frames of the client's
 *   epoch after `since` are gone with it.
 * `epoch` and `offset` are the channel's position at the time of the read.
 */
export type HistoryResult =
  | { recovered: true; epoch: string; offset: number; messages: ChannelMessage[]; epochChanged?: true }
  | { recovered: false; epoch: string; offset: number };

/** How much history each channel keeps. */
export interface HistoryLimits {
  /** Frames kept per channel (the newest). */
  size: number;
  /** Seconds the history lives after its last write. */
  ttlS: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { size: 1000, ttlS: 300 };

/** Entries of a dead consumer that a live one took over. */
export interface TakeOver {
  /** The dead consumers whose pending entries were moved to the caller. */
  consumers: string[];
  entries: StreamEntry[];
}

export interface IngestBacklog {
  /** Entries delivered to a worker but not yet acknowledged. */
  pending: number;
  /** Entries not yet delivered to any worker (null when Redis cannot tell). */
  lag: number | null;
  /** The same two figures for each ingest partition (one on one Redis). */
  partitions?: { pending: number; lag: number | null }[];
}

/** What one pass over the intake stream did (see `IntakeQueue`). */
export interface IntakeForward {
  /** Entries appended to their partition by this pass. */
  forwarded: number;
  /** Entries a previous pass had already appended (it died before acknowledging): acknowledged only. */
  duplicates: number;
  /** Entries that cannot be routed, copied to the dead-letter stream with their reason. */
  deadLettered: number;
  /** Dead consumers whose intake entries this pass took over. */
  consumers: string[];
}

/** A Redis server the engine talks to, and its replication role (`master`, `slave`). */
export interface RedisNodeRole {
  address: string;
  role: string;
}

export type ChannelHandler = (message: ChannelMessage) => void;

/** Where a process is in its life: connecting, serving, closed. */
export interface Lifecycle {
  readonly kind: 'redis' | 'memory';
  health(): EngineHealth;
  /** Resolves once the engine can serve requests (connected, consumer group present). */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Each Redis server and its role (empty on the in-memory engine). */
  redisNodes(): Promise<RedisNodeRole[]>;
}

/** The ingest stream: producers append, workers read, claim and acknowledge (through `Store.commit`). */
export interface IngestQueue {
  /**
   * Appends to the ingest stream; resolves with the stream id once the entry is stored. `route`
   * is the channel the entry publishes on (protocol `ingestRoute`): on a Redis Cluster it picks
   * the ingest partition, and is derived from the fields when omitted.
   */
  appendIngest(fields: Record<string, string>, route?: string): Promise<string>;
  /**
   * Appends to the ingest stream unless `once.key` was already used within its TTL. The marker
   * and the entry are written in one atomic step: there is never a marker without its entry,
   * nor an entry whose key a concurrent append could also claim.
   */
  appendIngestOnce(fields: Record<string, string>, once: IngestOnce, route?: string): Promise<AppendOnceResult>;
  /**
   * New entries for this consumer, waiting up to `blockMs` when there are none (0: no wait, the
   * entries known to be there; a worker reads its next batch so while the current one commits).
   */
  readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]>;
  /** Takes over entries another consumer left unacknowledged for at least `minIdleMs`. */
  claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]>;
  /**
   * Announces that `consumer` is alive for the next `ttlMs` (renew well before it runs out).
   * Consumers that stop announcing are taken over by `takeOverDeadConsumers`.
   */
  announceConsumer(consumer: string, ttlMs: number): Promise<void>;
  /** Withdraws the announcement at a clean stop (nothing is left pending then). */
  withdrawConsumer(consumer: string): Promise<void>;
  /**
   * Moves to `consumer` up to `count` pending entries of every other consumer that is not
   * announced alive, whatever their idle time, and forgets dead consumers left with nothing
   * pending. Atomic per dead consumer, so two live workers never both take the same entries.
   */
  takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver>;
  /** Acknowledges entries and copies them, with the reason, to the dead-letter stream. */
  deadLetter(entry: StreamEntry, reason: string): Promise<void>;
  ingestBacklog(): Promise<IngestBacklog>;
  /** Drops acknowledged entries from the stream (never pending ones). */
  trimIngest(): Promise<void>;
}

/** One outcome per commit, in input order. */
export type CommitOutcome = { ok: true; result: CommitResult } | { ok: false; error: Error };

/** Shared state: atomic commits (ops, frames, guard) and reads. */
export interface Store {
  /**
   * Applies a commit atomically: the guard, every op and every frame are checked first (see
   * `validateCommit`), and a commit refused for any of them changes nothing (its entry stays
   * pending). Rejects when refused; resolves `applied: false` when the guard says it was done.
   */
  commit(commit: Commit): Promise<CommitResult>;
  /**
   * Commits many entries' commits: each stays atomic and applied once on its own; commits
   * touching the same channel are applied in the given order; one failing commit does not
   * affect the others (it stays pending).
   */
  commitBatch(commits: Commit[]): Promise<CommitOutcome[]>;
  read(reads: StoreRead[]): Promise<number[]>;
  /** String reads in one round trip: one array of strings per read. */
  readStrings(reads: StringRead[]): Promise<string[][]>;
}

/** Channels: subscriptions, positions and history. Frames are published by `Store.commit`. */
export interface Channels {
  /** Registers a handler for a channel; it receives every frame published on it from now on. */
  subscribe(channel: string, handler: ChannelHandler): Promise<void>;
  /** Removes a handler; the channel is left once it has none. */
  unsubscribe(channel: string, handler: ChannelHandler): Promise<void>;
  /** The channel's epoch and latest offset; creates the epoch when the channel has none. */
  position(channel: string): Promise<ChannelPosition>;
  /** The frames published on `channel` after `request.since`, when they can all be had. */
  history(channel: string, request: HistoryRequest): Promise<HistoryResult>;
  /**
   * Calls `listener` each time the subscription connection came back after a loss and every
   * channel is subscribed again. Frames published meanwhile were missed: fetch
   * them with `history`. Returns a function that removes the listener.
   */
  onSubscriptionsRestored(listener: () => void): () => void;
  /**
   * A round trip through pub/sub on a channel unique to this engine: true when a published
   * probe came back within `timeoutMs`.
   */
  probeSubscription(timeoutMs: number): Promise<boolean>;
}

/** Named leases: one holder at a time, until it releases or its TTL runs out. */
export interface Leases {
  /** Acquires the lease, or extends it when `holder` already has it. True when held. */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  /** Who holds the lease now, if anyone (for the operations view). */
  leaseHolder(name: string): Promise<string | undefined>;
}

/**
 * The intake of a Redis Cluster: producers that append to the documented stream (`sb:ingest`)
 * directly, as on one Redis, append to a stream no partition reads. Workers drain it into the
 * partitions, each entry once (a marker keyed by its intake id guards the append), then
 * acknowledge it. On one Redis and in memory there is no intake: `sb:ingest` is the ingest.
 */
export interface IntakeQueue {
  /** True when there is an intake stream to drain (a Redis Cluster). */
  readonly hasIntake: boolean;
  /** Reads up to `count` new intake entries (waiting up to `blockMs`) and forwards them. */
  forwardIntake(consumer: string, count: number, blockMs: number): Promise<IntakeForward>;
  /**
   * Takes over the intake entries of consumers no longer announced alive, and those left
   * unacknowledged for `minIdleMs` on any consumer, and forwards them (at most `count`).
   */
  recoverIntake(consumer: string, minIdleMs: number, count: number): Promise<IntakeForward>;
  /** The intake's entries pending on a worker and not yet delivered; undefined without an intake. */
  intakeBacklog(): Promise<{ pending: number; lag: number | null } | undefined>;
}

/**
 * Everything a gateway or worker shares with the cluster. A consumer that needs one part takes
 * that part's interface (a `Store`, `Channels`...), so what it relies on is plain.
 */
export interface Engine extends Lifecycle, IngestQueue, IntakeQueue, Store, Channels, Leases {
  /** The dead-letter stream, for operators (list, inspect, remove; see `requeueDeadLetter`). */
  readonly deadLetters: DeadLetters;
  /** Who is connected to each channel, across every gateway (see presence.ts). */
  readonly presence: Presence;
}
