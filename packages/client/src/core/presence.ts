import type { OccupancyFrame, PresenceDiff, PresenceMemberFrame, PresenceSnapshot } from '@switchboard/protocol';
import { isObject, isString, isStringOrNull } from './guards.js';

export type { OccupancyFrame as Occupancy, PresenceDiff, PresenceMemberFrame as PresenceMember, PresenceSnapshot };

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
  return { type: 'presence', channel: frame['channel'], members, occupancy, ...(frame['truncated'] === true ? { truncated: true as const } : {}) };
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
  return { type: 'presence_diff', channel: frame['channel'], joined, left, occupancy };
}

/** A snapshot with a diff applied (a new object: stores replace, never mutate). */
export function applyPresenceDiff(snapshot: PresenceSnapshot, diff: PresenceDiff): PresenceSnapshot {
  const gone = new Set([...diff.left, ...diff.joined].map((m) => m.clientId));
  const members = [...snapshot.members.filter((m) => !gone.has(m.clientId)), ...diff.joined].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return { ...snapshot, members, occupancy: diff.occupancy };
}

/** What a presence store follows: a client's presence answers and diffs of one channel. */
export interface PresenceSource {
  readonly state: string;
  presence(): Promise<PresenceSnapshot>;
  onPresence(listener: (diff: PresenceDiff) => void): () => void;
  on(event: 'open', listener: () => void): () => void;
}
