import type { Socket } from 'socket.io';
import { ERROR_CLIENT_EVENTS, levelName, levelRoom, serviceName, serviceRoom } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { handler } from './acks.js';

/** Error monitor client events: (un)subscribe to a service's or a level's room. Open to anonymous sockets. */
export function registerErrorMonitor(socket: Socket, ctx: GatewayContext): void {
  const invalid = () => ctx.metrics.socketioErrors.inc({ reason: 'invalid_argument' });
  const join = (room: string) => {
    void socket.join(room);
    return { ok: true as const };
  };
  const leave = (room: string) => {
    void socket.leave(room);
    return { ok: true as const };
  };
  socket.on(ERROR_CLIENT_EVENTS.subscribeService, handler(serviceName, 'service', (s) => join(serviceRoom(s)), invalid));
  socket.on(ERROR_CLIENT_EVENTS.unsubscribeService, handler(serviceName, 'service', (s) => leave(serviceRoom(s)), invalid));
  socket.on(ERROR_CLIENT_EVENTS.subscribeLevel, handler(levelName, 'level', (l) => join(levelRoom(l)), invalid));
  socket.on(ERROR_CLIENT_EVENTS.unsubscribeLevel, handler(levelName, 'level', (l) => leave(levelRoom(l)), invalid));
}
