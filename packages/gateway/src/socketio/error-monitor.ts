import type { Socket } from 'socket.io';
import { ERROR_CLIENT_EVENTS, levelName, levelRoom, serviceName, serviceRoom } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { handler, type AckResult } from './acks.js';
import { changeStored } from './session-keeper.js';

/**
 * Error monitor client events: (un)subscribe to a service's or a level's room. Open to anonymous
 * sockets. Returns what registers them on a socket; the handlers are shared by every socket.
 */
export function errorMonitor(ctx: GatewayContext): (socket: Socket) => void {
  const invalid = () => ctx.metrics.socketioErrors.inc({ reason: 'invalid_argument' });
  const join = async (socket: Socket, room: string): Promise<AckResult> => {
    await changeStored(socket, () => socket.join(room));
    return { ok: true };
  };
  const leave = async (socket: Socket, room: string): Promise<AckResult> => {
    await changeStored(socket, () => socket.leave(room));
    return { ok: true };
  };
  const handlers = [
    [ERROR_CLIENT_EVENTS.subscribeService, handler(serviceName, 'service', (socket, s) => join(socket, serviceRoom(s)), invalid)],
    [ERROR_CLIENT_EVENTS.unsubscribeService, handler(serviceName, 'service', (socket, s) => leave(socket, serviceRoom(s)), invalid)],
    [ERROR_CLIENT_EVENTS.subscribeLevel, handler(levelName, 'level', (socket, l) => join(socket, levelRoom(l)), invalid)],
    [ERROR_CLIENT_EVENTS.unsubscribeLevel, handler(levelName, 'level', (socket, l) => leave(socket, levelRoom(l)), invalid)],
  ] as const;
  return (socket) => {
    for (const [event, listener] of handlers) socket.on(event, listener);
  };
}
