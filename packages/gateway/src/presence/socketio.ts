import type { Namespace } from 'socket.io';
import type { PresenceMember } from '@switchboard/engine';
import { jobRoom } from '@switchboard/protocol';
import type { SocketIoData } from '../socketio/auth.js';
import { PRESENCE_CHANNELS } from './channels.js';
import type { GatewayPresence } from './gateway-presence.js';

const JOB_ROOM_PREFIX = jobRoom('');

/**
 * Socket.IO presence from the namespace's own room events: every connected socket is on the
 * error feed (its own room stands for its connection), and on each job whose room it is in. The
 * clientId is the socket id, which a recovered session keeps: a client back within the grace
 * period, on any gateway, never left.
 */
export function trackSocketIoPresence(presence: GatewayPresence, nsp: Namespace): void {
  const channelOf = (room: string, id: string): string | undefined => {
    if (room === id) return PRESENCE_CHANNELS.errors;
    return room.startsWith(JOB_ROOM_PREFIX) ? PRESENCE_CHANNELS.jobs(room.slice(JOB_ROOM_PREFIX.length)) : undefined;
  };
  const memberOf = (id: string): PresenceMember => {
    const data = nsp.sockets.get(id)?.data as SocketIoData | undefined;
    return { clientId: id, userId: data?.user?.sub ?? null, info: { endpoint: 'socketio' } };
  };
  nsp.adapter.on('join-room', (room: string, id: string) => {
    const channel = channelOf(room, id);
    if (channel !== undefined) presence.join(channel, memberOf(id));
  });
  nsp.adapter.on('leave-room', (room: string, id: string) => {
    const channel = channelOf(room, id);
    if (channel !== undefined) presence.leave(channel, id);
  });
}
