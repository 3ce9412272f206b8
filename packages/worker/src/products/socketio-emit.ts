import type { Publish } from '@switchboard/engine';
import { socketIoChannel, socketIoEmitFrame, socketIoEmitsFrame, socketIoLeaveFrame, type SocketIoEmit, type SocketIoTarget } from '@switchboard/protocol';

/** The namespace both Socket.IO products live in. */
const NSP = '/';
const channel = socketIoChannel(NSP);

/**
 * Socket.IO room operations as frames of the namespace's engine channel: published inside the
 * worker's atomic commit, each is applied exactly once, gets an offset and is kept in the
 * channel's history, from which gateways recover reconnecting clients.
 */
export const socketIoEmit = (to: SocketIoTarget, event: string, ...args: unknown[]): Publish => ({
  channel,
  frame: socketIoEmitFrame(NSP, to, event, ...args),
});

/** Several emits of one event as one frame: one offset and one history slot for all of them. */
export const socketIoEmits = (emits: SocketIoEmit[]): Publish => ({ channel, frame: socketIoEmitsFrame(NSP, emits) });

/** Makes the sockets `of` designates leave `rooms`, on every gateway. */
export const socketIoLeave = (of: SocketIoTarget, rooms: string[]): Publish => ({ channel, frame: socketIoLeaveFrame(NSP, of, rooms) });
