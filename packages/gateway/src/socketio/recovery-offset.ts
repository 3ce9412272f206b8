import type { ChannelPosition } from '@switchboard/engine';

/**
 * Socket.IO's recovery offset (the string appended as the last argument of every event packet,
 * which the client sends back when it reconnects) names a place in the namespace channel's
 * history: `<epoch>:<offset>` once the frame at that offset is wholly processed, and
 * `<epoch>:<offset>.<part>` inside a frame of several broadcasts, up to that part. The epoch
 * makes an offset from before Redis lost its data unusable instead of wrong.
 */
export interface RecoveryPoint extends ChannelPosition {
  /** Parts of the frame at `offset` processed up to this one (the whole frame when absent). */
  part?: number;
}

export const formatRecoveryOffset = ({ epoch, offset, part }: RecoveryPoint): string =>
  part === undefined ? `${epoch}:${offset}` : `${epoch}:${offset}.${part}`;

const RECOVERY_OFFSET = /^([^:]{1,64}):(\d{1,15})(?:\.(\d{1,2}))?$/;

/** The place a client's recovery offset names, or undefined when it is not one of ours. */
export function parseRecoveryOffset(value: unknown): RecoveryPoint | undefined {
  if (typeof value !== 'string') return undefined;
  const match = RECOVERY_OFFSET.exec(value);
  if (match === null) return undefined;
  const offset = Number(match[2]);
  if (match[3] === undefined) return { epoch: match[1] as string, offset };
  // A part belongs to a frame: there is none at offset 0.
  return offset === 0 ? undefined : { epoch: match[1] as string, offset, part: Number(match[3]) };
}

/** The recovery offset of part `index` of the `count` broadcasts in the frame at `at`. */
export const partOffset = (at: ChannelPosition, index: number, count: number): string =>
  formatRecoveryOffset(index === count - 1 ? at : { ...at, part: index });

/**
 * The event that gives a newly connected client its first recovery offset. Socket.IO clients
 * only learn an offset from the event packets they process, so one that drops before any
 * broadcast reached it (an error monitor in a quiet hour) would come back with none and start
 * afresh; with this packet it recovers from where it connected. Clients need no listener.
 */
export const RECOVERY_OFFSET_EVENT = 'switchboard:offset';
