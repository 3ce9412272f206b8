import type { ChannelPosition, OccupancyFrame, PresenceDiff, PresenceMemberFrame, PresenceResumed, PresenceSnapshot } from '@switchboard/protocol';
import { isObject, isString, isStringOrNull } from './guards.js';

export type { OccupancyFrame as Occupancy, PresenceDiff, PresenceMemberFrame as PresenceMember, PresenceResumed, PresenceSnapshot };

/** The optional `epoch` and `offset` of a presence frame (the position of the channel's diffs). */
const readPosition = (frame: Record<string, unknown>): { epoch?: string; offset?: number } =>
  isString(frame['epoch']) && typeof frame['offset'] === 'number' ? { epoch: frame['epoch'], offset: frame['offset'] } : {};

const readMembers = (value: unknown): PresenceMemberFrame[] | string => {
  if (!Array.isArray(value)) return 'members must be an array';
  const members: PresenceMemberFrame[] = [];
  for (const m of value) {
    if (!isObject(m) || !isString(m['clientId']) || !isStringOrNull(m['userId'])) return 'each member needs a string clientId and a userId (string or null)';
    members.push({ clientId: m['clientId'], userId: m['userId'], info: isObject(m['info']) ? m['info'] : {} });
  }
  return members;
};

const readOccupancy = (value: unknown): OccupancyFrame | string =>
  isObject(value) && typeof value['connections'] === 'number' && typeof value['users'] === 'number'
    ? { connections: value['connections'], users: value['users'] }
    : 'occupancy must have numeric connections and users';

/** A `presence` answer (raw frame or Socket.IO ack), or what is wrong with it. */
export function readPresenceSnapshot(frame: unknown): PresenceSnapshot | string {
  if (!isObject(frame) || !isString(frame['channel'])) return 'expected an object with a string channel';
  const members = readMembers(frame['members']);
  if (typeof members === 'string') return members;
  const occupancy = readOccupancy(frame['occupancy']);
  if (typeof occupancy === 'string') return occupancy;
  return { type: 'presence', channel: frame['channel'], members, occupancy, ...(frame['truncated'] === true ? { truncated: true as const } : {}), ...readPosition(frame) };
}

/** A `presence_diff` frame (Socket.IO: `presence:diff`), or what is wrong with it. */
export function readPresenceDiff(frame: unknown): PresenceDiff | string {
  if (!isObject(frame) || !isString(frame['channel'])) return 'expected an object with a string channel';
  const joined = readMembers(frame['joined']);
  if (typeof joined === 'string') return `joined: ${joined}`;
  const left = readMembers(frame['left']);
  if (typeof left === 'string') return `left: ${left}`;
  const occupancy = readOccupancy(frame['occupancy']);
  if (typeof occupancy === 'string') return occupancy;
  return { type: 'presence_diff', channel: frame['channel'], joined, left, occupancy, ...readPosition(frame) };
}

/** A snapshot with a diff applied (a new object: stores replace, never mutate). */
export function applyPresenceDiff(snapshot: PresenceSnapshot, diff: PresenceDiff): PresenceSnapshot {
  const gone = new Set([...diff.left, ...diff.joined].map((m) => m.clientId));
  const members = [...snapshot.members.filter((m) => !gone.has(m.clientId)), ...diff.joined].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return { ...snapshot, members, occupancy: diff.occupancy };
}

/**
 * What a presence store follows: one channel's presence updates (a snapshot, then diffs; after a
 * reconnect the missed diffs, or a fresh snapshot when they could not be recovered).
 */
export interface PresenceSource {
  followPresence(listener: (update: PresenceUpdate) => void): () => void;
}

/** What a presence follower hands its listeners: a snapshot (the state is this now), a diff to apply, or a failure to load. */
export type PresenceUpdate = { kind: 'snapshot'; snapshot: PresenceSnapshot } | { kind: 'diff'; diff: PresenceDiff } | { kind: 'error'; error: Error };

/** The position in a channel's presence diffs a subscription resumes from. */
export type PresencePosition = ChannelPosition;

/** How a follower reaches the server for one channel (a raw endpoint, a Socket.IO channel). */
export interface PresenceTransport {
  /** A `presence` snapshot (it carries the position of the diffs). */
  snapshot(): Promise<PresenceSnapshot>;
  /** Sends the subscription, resuming from `position` when given. */
  subscribe(position: PresencePosition | undefined): void;
  unsubscribe(): void;
}

const positionOf = (frame: { epoch?: string; offset?: number }): PresencePosition | undefined =>
  frame.epoch !== undefined && frame.offset !== undefined ? { epoch: frame.epoch, offset: frame.offset } : undefined;

/** A `presence_resumed` answer (Socket.IO: the `presence:subscribe` ack), or what is wrong with it. */
export function readPresenceResumed(frame: unknown): PresenceResumed | string {
  if (!isObject(frame) || !isString(frame['channel']) || !isString(frame['epoch']) || typeof frame['offset'] !== 'number') return 'expected a channel, an epoch and an offset';
  const { channel, epoch, offset } = frame;
  if (frame['recovered'] === true) {
    if (typeof frame['count'] !== 'number') return 'count must be a number';
    return { type: 'presence_resumed', channel, recovered: true, epoch, count: frame['count'], offset };
  }
  if (frame['recovered'] !== false) return 'recovered must be a boolean';
  const snapshot = readPresenceSnapshot(frame['snapshot']);
  if (typeof snapshot === 'string') return `snapshot: ${snapshot}`;
  return { type: 'presence_resumed', channel, recovered: false, epoch, offset, snapshot: { ...snapshot, epoch, offset } };
}

/**
 * One channel's presence subscription on a client, kept across reconnects: the first time a
 * snapshot, then diffs from its position; after a reconnect, the diffs missed meanwhile (the
 * server recovers them by offset), or a fresh snapshot when it could not. Diffs already applied
 * (by offset) are dropped, so listeners see each change once and in order.
 */
export class PresenceFollower {
  private readonly listeners = new Set<(update: PresenceUpdate) => void>();
  private position: PresencePosition | undefined;
  /** Bumped on every (re)start, so a snapshot answer of an older one is ignored. */
  private generation = 0;

  constructor(
    private readonly transport: PresenceTransport,
    private readonly isOpen: () => boolean,
  ) {}

  /** Calls `listener` with the channel's updates; returns the function that stops it (the last one unsubscribes). */
  follow(listener: (update: PresenceUpdate) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1 && this.isOpen()) this.start();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.position = undefined;
      this.generation += 1;
      if (this.isOpen()) this.transport.unsubscribe();
    };
  }

  /** The connection (re)opened: subscriptions belong to it on the server. */
  opened(): void {
    if (this.listeners.size > 0) this.start();
  }

  private start(): void {
    const generation = ++this.generation;
    if (this.position !== undefined) return this.transport.subscribe(this.position);
    this.transport.snapshot().then(
      (snapshot) => {
        if (generation !== this.generation) return;
        this.position = positionOf(snapshot);
        this.emit({ kind: 'snapshot', snapshot });
        this.transport.subscribe(this.position);
      },
      (error: unknown) => {
        if (generation === this.generation) this.emit({ kind: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      },
    );
  }

  /** The answer to a resuming subscription. */
  resumed(answer: PresenceResumed): void {
    if (this.listeners.size === 0) return;
    if (answer.recovered) {
      // The missed diffs follow, each with its offset; they move the position.
      if (this.position !== undefined && this.position.epoch !== answer.epoch) this.position = undefined;
      return;
    }
    this.position = { epoch: answer.epoch, offset: answer.offset };
    this.emit({ kind: 'snapshot', snapshot: answer.snapshot });
  }

  /** A diff from the server; false when it is dropped (nobody follows, or it was already applied). */
  diff(diff: PresenceDiff): boolean {
    if (this.listeners.size === 0) return false;
    const at = positionOf(diff);
    if (at !== undefined && this.position !== undefined && at.epoch === this.position.epoch && at.offset <= this.position.offset) return false;
    if (at !== undefined) this.position = at;
    this.emit({ kind: 'diff', diff });
    return true;
  }

  private emit(update: PresenceUpdate): void {
    for (const listener of [...this.listeners]) listener(update);
  }
}
