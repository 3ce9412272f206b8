import type { Namespace, Socket } from 'socket.io';
import type { PresenceMember } from '@switchboard/engine';
import { PRESENCE_EVENTS, jobRoom } from '@switchboard/protocol';
import { apiChannel } from '../api/channel-names.js';
import { ackOf } from '../socketio/acks.js';
import type { SocketIoData } from '../socketio/auth.js';
import { PRESENCE_CHANNELS } from './channels.js';
import { parseResume } from '../ws/resume.js';
import type { DiffSubscriber } from './diff-stream.js';
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
  /** The users of this node's sockets, for their leave (the socket is gone by then). */
  const users = new Map<string, string>();
  nsp.adapter.on('join-room', (room: string, id: string) => {
    const channel = channelOf(room, id);
    if (channel === undefined) return;
    const member = memberOf(id);
    presence.join(channel, member);
    if (room === id && member.userId !== null) {
      users.set(id, member.userId);
      presence.userOpened({ ...member, userId: member.userId });
    }
  });
  nsp.adapter.on('leave-room', (room: string, id: string) => {
    const channel = channelOf(room, id);
    if (channel === undefined) return;
    presence.leave(channel, id);
    const userId = room === id ? users.get(id) : undefined;
    if (userId === undefined) return;
    users.delete(id);
    presence.userClosed(userId, id);
  });
}

/**
 * Connection middleware, after authentication: refuses a user at MAX_CONNECTIONS_PER_USER
 * (`connect_error` "Too many connections for this user"). Recovered sessions skip it: they are
 * connections the user already had.
 */
export function userLimitMiddleware(presence: GatewayPresence) {
  return (socket: Socket, next: (err?: Error) => void): void => {
    const userId = (socket.data as SocketIoData).user?.sub;
    if (userId === undefined) return next();
    presence.userLimitRefusal(userId, socket.id).then(
      (refusal) => next(refusal === undefined ? undefined : new Error('Too many connections for this user')),
      () => next(),
    );
  };
}

/** Channels a Socket.IO client may ask the presence of: the error feed and job rooms. */
const socketIoPresenceName = (value: unknown): string | undefined =>
  typeof value === 'string' && (value === 'errors' || value.startsWith('jobs:')) && apiChannel(value) !== undefined ? value : undefined;

const BAD_CHANNEL = { ok: false, error: 'channel: expected "errors" or "jobs:<jobId>"' } as const;

/** The optional position of `presence:subscribe` (`{epoch, since}`, before the ack): the resume request. */
function resumeOf(value: unknown): ReturnType<typeof parseResume> {
  if (typeof value === 'function' || value === undefined) return { ok: true, resume: undefined };
  if (typeof value !== 'object' || value === null) return { ok: false, error: 'position: expected {"epoch","since"}' };
  const { epoch, since } = value as Record<string, unknown>;
  if ((epoch !== undefined && typeof epoch !== 'string') || (since !== undefined && typeof since !== 'number')) {
    return { ok: false, error: 'position: expected {"epoch": string, "since": number}' };
  }
  return parseResume(epoch, since);
}

/**
 * Presence events of one socket (opt-in): `presence:get` answers the channel's snapshot in its ack,
 * `presence:subscribe` / `presence:unsubscribe` start and stop `presence:diff` events.
 */
export function registerPresenceEvents(presence: GatewayPresence, socket: Socket): void {
  socket.on(PRESENCE_EVENTS.get, (channel: unknown, ...rest: unknown[]) => {
    const ack = ackOf(rest);
    const name = socketIoPresenceName(channel);
    if (ack === undefined) return;
    if (name === undefined) return ack(BAD_CHANNEL);
    presence.clients.snapshot(name).then(
      (snapshot) => (ack as (value: unknown) => void)(snapshot ?? BAD_CHANNEL),
      () => ack({ ok: false, error: 'presence is temporarily unavailable' }),
    );
  });
  socket.on(PRESENCE_EVENTS.subscribe, (channel: unknown, ...rest: unknown[]) => {
    const ack = ackOf(rest) as ((value: unknown) => void) | undefined;
    const name = socketIoPresenceName(channel);
    if (name === undefined) return ack?.(BAD_CHANNEL);
    const resume = resumeOf(rest[0]);
    if (!resume.ok) return ack?.({ ok: false, error: resume.error });
    // A resuming subscription's answer is its ack, sent before the diffs that follow it.
    let answered = false;
    const subscriber: DiffSubscriber = {
      resumed: (answer) => {
        answered = true;
        ack?.({ ok: true, ...answer });
      },
      diff: (diff) => socket.emit(PRESENCE_EVENTS.diff, diff),
    };
    presence.subscribeDiffs(socket, name, subscriber, resume.resume).then(
      () => answered || ack?.({ ok: true }),
      () => ack?.({ ok: false, error: 'presence is temporarily unavailable' }),
    );
  });
  socket.on(PRESENCE_EVENTS.unsubscribe, (channel: unknown, ...rest: unknown[]) => {
    const name = socketIoPresenceName(channel);
    if (name !== undefined) presence.unsubscribeDiffs(socket, name);
    ackOf(rest)?.(name === undefined ? BAD_CHANNEL : { ok: true });
  });
  socket.on('disconnect', () => presence.unsubscribeDiffs(socket));
}
