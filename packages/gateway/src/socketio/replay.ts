import type { Session } from 'socket.io-adapter';
import type { ChannelMessage } from '@switchboard/engine';
import { SOCKET_IO_EVENT_PACKET, SOCKET_IO_MESSAGE, parseSocketIoMessage, socketIoTargets, type SocketIoMessage } from '@switchboard/protocol';
import { formatRecoveryOffset, partOffset, type RecoveryPoint } from './recovery-offset.js';
import type { StoredSession } from './session-store.js';

/** How many parsed history frames the replays of one namespace share. */
export const REPLAY_CACHE_FRAMES = 1024;

interface BroadcastPart {
  packet: { type: number; data?: unknown[] | undefined; id?: number | undefined };
  opts: { rooms: string[]; except: string[]; flags: Record<string, unknown> };
}

/**
 * Whether a broadcast is one a socket in `rooms` would have got and can get again: an event
 * packet, not awaiting acknowledgements, not volatile, and aimed at those rooms.
 */
function recoverable(packet: BroadcastPart['packet'], opts: BroadcastPart['opts'], rooms: Set<string>): packet is BroadcastPart['packet'] & { data: unknown[] } {
  return packet.type === SOCKET_IO_EVENT_PACKET && packet.id === undefined && opts.flags['volatile'] === undefined && packet.data !== undefined && socketIoTargets(opts, rooms);
}

/**
 * History frames parsed once for every replay (a drained gateway's clients all replay the same
 * few frames), the oldest forgotten past `capacity`. What it returns is never to be handed to
 * Socket.IO, which changes what it is given.
 */
export class ReplayCache {
  /** By `<epoch>:<offset>`, oldest first. */
  private readonly parsed = new Map<string, SocketIoMessage | undefined>();

  constructor(private readonly capacity = REPLAY_CACHE_FRAMES) {}

  get(frame: ChannelMessage): SocketIoMessage | undefined {
    const key = `${frame.epoch}:${frame.offset}`;
    if (this.parsed.has(key)) return this.parsed.get(key);
    const result = parseSocketIoMessage(frame.frame);
    const message = result.ok ? result.value : undefined;
    this.parsed.set(key, message);
    // A Map iterates in insertion order: the first key is the oldest.
    if (this.parsed.size > this.capacity) this.parsed.delete(this.parsed.keys().next().value as string);
    return message;
  }
}

/**
 * Replays the frames a session missed (after `from`, in offset order) against it, without I/O:
 * broadcasts it is targeted by become its missed packets (each with its recovery offset), room
 * changes that target it change its rooms, a disconnect aimed at it ends it ('disconnected').
 * Frames of other namespaces, unreadable frames and requests are skipped.
 */
export function replaySession(
  session: StoredSession,
  from: RecoveryPoint,
  frames: readonly ChannelMessage[],
  namespace: string,
  parse: (frame: ChannelMessage) => SocketIoMessage | undefined,
): Session | 'disconnected' {
  const rooms = new Set(session.rooms);
  const missedPackets: unknown[][] = [];
  for (const frame of frames) {
    const message = parse(frame);
    if (message === undefined || message.nsp !== namespace) continue;
    switch (message.type) {
      case SOCKET_IO_MESSAGE.broadcast: {
        const { packet, opts, requestId } = message.data;
        if (requestId === undefined && recoverable(packet, opts, rooms)) missedPackets.push([...packet.data, formatRecoveryOffset(frame)]);
        break;
      }
      case SOCKET_IO_MESSAGE.broadcasts: {
        const { parts } = message.data;
        // The parts the client processed before it dropped are not missed.
        const first = frame.offset === from.offset && from.part !== undefined ? from.part + 1 : 0;
        parts.forEach(({ packet, opts }, i) => {
          if (i >= first && recoverable(packet, opts, rooms)) missedPackets.push([...packet.data, partOffset(frame, i, parts.length)]);
        });
        break;
      }
      case SOCKET_IO_MESSAGE.socketsJoin:
        if (socketIoTargets(message.data.opts, rooms)) for (const room of message.data.rooms) rooms.add(room);
        break;
      case SOCKET_IO_MESSAGE.socketsLeave:
        if (socketIoTargets(message.data.opts, rooms)) for (const room of message.data.rooms) rooms.delete(room);
        break;
      case SOCKET_IO_MESSAGE.disconnectSockets:
        if (socketIoTargets(message.data.opts, rooms)) return 'disconnected';
        break;
      default:
        break;
    }
  }
  return { ...session, rooms: [...rooms], missedPackets };
}
