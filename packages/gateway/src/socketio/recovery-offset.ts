/**
 * Socket.IO's recovery offset (the string appended as the last argument of every event packet,
 * which the client sends back when it reconnects) names a place in the namespace channel's
 * history: `<epoch>:<offset>`. The epoch makes an offset from before Redis lost its data
 * unusable instead of wrong.
 */
export interface ChannelPosition {
  epoch: string;
  offset: number;
}

export const formatRecoveryOffset = ({ epoch, offset }: ChannelPosition): string => `${epoch}:${offset}`;

const RECOVERY_OFFSET = /^([^:]{1,64}):(\d{1,15})$/;

/** The position a client's recovery offset names, or undefined when it is not one of ours. */
export function parseRecoveryOffset(value: unknown): ChannelPosition | undefined {
  if (typeof value !== 'string') return undefined;
  const match = RECOVERY_OFFSET.exec(value);
  if (match === null) return undefined;
  return { epoch: match[1] as string, offset: Number(match[2]) };
}

/**
 * The event that gives a newly connected client its first recovery offset. Socket.IO clients
 * only learn an offset from the event packets they process, so one that drops before any
 * broadcast reached it (an error monitor in a quiet hour) would come back with none and start
 * afresh; with this packet it recovers from where it connected. Clients need no listener.
 */
export const RECOVERY_OFFSET_EVENT = 'switchboard:offset';
