import { z } from 'zod';
import { parseJson, validate, type Validated } from './errors.js';

/**
 * Socket.IO room operations travel between nodes as JSON frames on one engine channel per
 * namespace (`socketIoChannel`), so each gets an offset and a place in the channel's history:
 * that history is what lets a reconnecting client recover on any gateway. The shape is
 * socket.io-adapter's cluster message (`ClusterAdapter` reads it as is); the type numbers are
 * that library's `MessageType` values.
 */
export const SOCKET_IO_MESSAGE = {
  broadcast: 3,
  socketsJoin: 4,
  socketsLeave: 5,
  disconnectSockets: 6,
  /**
   * Several broadcasts in one frame (this project's own type, never sent to socket.io-adapter):
   * what one event emits to several audiences (an error report: everyone, its service's room,
   * its level's room) takes one offset and one history slot instead of one each. Each part is
   * delivered as a broadcast of its own, with recovery offset `<epoch>:<offset>.<part>` (the last
   * part's is the frame's `<epoch>:<offset>`).
   */
  broadcasts: 100,
  /**
   * Several broadcasts of the same arguments in one frame (this project's own type): each part
   * names its audience and its event, the arguments are written once
   * (`{"args":[…],"parts":[{"event":…,"opts":…},…]}`). Read as a `broadcasts` frame of the same
   * parts: same order, same recovery offsets. An error report's record is not carried three times.
   */
  sharedBroadcasts: 101,
} as const;

/** Most broadcasts one `broadcasts` frame may carry. */
export const SOCKET_IO_MAX_PARTS = 16;

/** The `packet.type` of a Socket.IO EVENT packet (socket.io-parser). */
export const SOCKET_IO_EVENT_PACKET = 2;

/** Sender id of messages that come from no Socket.IO server (the worker). */
export const SOCKET_IO_EMITTER_UID = 'emitter';

/** Which sockets an operation applies to: in any of `rooms` (all when empty), in none of `except`. */
export interface SocketIoTarget {
  rooms: string[];
  except: string[];
}

const roomList = z.array(z.string());
const target = z.object({
  rooms: roomList,
  except: roomList.default([]),
  flags: z.record(z.string(), z.unknown()).default({}),
});

/** A broadcast's Socket.IO packet: `data` is `[event, ...args]`. */
const packet = z.looseObject({
  type: z.number().int(),
  data: z.array(z.unknown()).optional(),
  id: z.number().optional(),
  nsp: z.string().optional(),
});

const envelope = { uid: z.string().min(1), nsp: z.string().min(1) };
const broadcastData = z.object({ opts: target, packet, requestId: z.string().optional() });

export const socketIoMessageSchema = z.union([
  z.object({
    ...envelope,
    type: z.literal(SOCKET_IO_MESSAGE.broadcast),
    data: broadcastData,
  }),
  z.object({
    ...envelope,
    type: z.literal(SOCKET_IO_MESSAGE.broadcasts),
    data: z.object({ parts: z.array(broadcastData.omit({ requestId: true })).min(1).max(SOCKET_IO_MAX_PARTS) }),
  }),
  z
    .object({
      ...envelope,
      type: z.literal(SOCKET_IO_MESSAGE.sharedBroadcasts),
      data: z.object({
        args: z.array(z.unknown()),
        parts: z.array(z.object({ event: z.string(), opts: target })).min(1).max(SOCKET_IO_MAX_PARTS),
      }),
    })
    // Read as the broadcasts it stands for: each packet its own `data` array (Socket.IO appends the offset to it).
    .transform(({ uid, nsp, data: { args, parts } }) => ({
      uid,
      nsp,
      type: SOCKET_IO_MESSAGE.broadcasts,
      data: { parts: parts.map(({ event, opts }) => ({ opts, packet: { type: SOCKET_IO_EVENT_PACKET, data: [event, ...args], nsp } })) },
    })),
  z.object({
    ...envelope,
    type: z.union([z.literal(SOCKET_IO_MESSAGE.socketsJoin), z.literal(SOCKET_IO_MESSAGE.socketsLeave)]),
    data: z.object({ opts: target, rooms: roomList }),
  }),
  z.object({
    ...envelope,
    type: z.literal(SOCKET_IO_MESSAGE.disconnectSockets),
    data: z.object({ opts: target, close: z.boolean().optional() }),
  }),
  // Requests and responses between servers (acknowledged broadcasts, server-side emits): the
  // adapter checks their fields itself.
  z.looseObject({ ...envelope, type: z.literal([7, 8, 9, 10, 11, 12, 13]), data: z.record(z.string(), z.unknown()).optional() }),
]);
export type SocketIoMessage = z.infer<typeof socketIoMessageSchema>;

/** Reads one frame of a Socket.IO channel (the engine's `offset` field is ignored). Never throws. */
export function parseSocketIoMessage(frame: string): Validated<SocketIoMessage> {
  const json = parseJson(frame);
  return json.ok ? validate(socketIoMessageSchema, json.value) : json;
}

const targetOf = ({ rooms, except }: SocketIoTarget) => ({ rooms, except, flags: {} });

/** `io.to(rooms).except(except).emit(event, ...args)`, as a frame for `socketIoChannel(nsp)`. */
export function socketIoEmitFrame(nsp: string, to: SocketIoTarget, event: string, ...args: unknown[]): string {
  return JSON.stringify({
    uid: SOCKET_IO_EMITTER_UID,
    nsp,
    type: SOCKET_IO_MESSAGE.broadcast,
    data: { opts: targetOf(to), packet: { type: SOCKET_IO_EVENT_PACKET, data: [event, ...args], nsp } },
  });
}

/** One `io.to(rooms).except(except).emit(event, ...args)` of a `socketIoEmitsFrame`. */
export interface SocketIoEmit {
  to: SocketIoTarget;
  event: string;
  args: unknown[];
}

/**
 * Several emits as one frame for `socketIoChannel(nsp)` (one offset, one history slot), applied
 * in order; a single emit stays a plain broadcast frame, emits of the same arguments share them.
 */
export function socketIoEmitsFrame(nsp: string, emits: SocketIoEmit[]): string {
  const [only] = emits;
  if (emits.length === 1 && only !== undefined) return socketIoEmitFrame(nsp, only.to, only.event, ...only.args);
  if (only === undefined || emits.length > SOCKET_IO_MAX_PARTS) throw new RangeError(`a frame carries 1 to ${SOCKET_IO_MAX_PARTS} emits, not ${emits.length}`);
  const { args } = only;
  if (emits.every((emit) => sameArgs(emit.args, args))) {
    const shared = emits.map(({ to, event }) => ({ event, opts: targetOf(to) }));
    return JSON.stringify({ uid: SOCKET_IO_EMITTER_UID, nsp, type: SOCKET_IO_MESSAGE.sharedBroadcasts, data: { args, parts: shared } });
  }
  const parts = emits.map(({ to, event, args }) => ({ opts: targetOf(to), packet: { type: SOCKET_IO_EVENT_PACKET, data: [event, ...args], nsp } }));
  return JSON.stringify({ uid: SOCKET_IO_EMITTER_UID, nsp, type: SOCKET_IO_MESSAGE.broadcasts, data: { parts } });
}

/** Whether two argument lists are the same values (by identity: what one event emits to several rooms). */
const sameArgs = (a: unknown[], b: unknown[]): boolean => a.length === b.length && a.every((value, i) => value === b[i]);

/** `io.in(rooms).except(except).socketsLeave(leave)`, as a frame for `socketIoChannel(nsp)`. */
export function socketIoLeaveFrame(nsp: string, of: SocketIoTarget, leave: string[]): string {
  return JSON.stringify({ uid: SOCKET_IO_EMITTER_UID, nsp, type: SOCKET_IO_MESSAGE.socketsLeave, data: { opts: targetOf(of), rooms: leave } });
}

/** Whether a socket in `rooms` is one of the sockets `to` designates (socket.io-adapter's rule). */
export function socketIoTargets(to: SocketIoTarget, rooms: Iterable<string>): boolean {
  let included = to.rooms.length === 0;
  for (const room of rooms) {
    if (to.except.includes(room)) return false;
    if (!included && to.rooms.includes(room)) included = true;
  }
  return included;
}
