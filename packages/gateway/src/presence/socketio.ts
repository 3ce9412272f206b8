import type { Namespace, Socket } from 'socket.io';
import type { PresenceMember } from '@switchboard/engine';
import { PRESENCE_EVENTS, jobRoom, type PresenceDiff, type PresenceResumed } from '@switchboard/protocol';
import { apiChannel } from '../api/channel-names.js';
import { ackOf } from '../socketio/acks.js';
import type { SocketIoData } from '../socketio/auth.js';
import { PRESENCE_CHANNELS, endpointInfo } from './channels.js';
import { parseResume } from '../ws/resume.js';
import { DiffSubscriber } from './diff-stream.js';
import type { GatewayPresence } from './gateway-presence.js';

const JOB_ROOM_PREFIX = jobRoom('');
const SOCKETIO_INFO = endpointInfo('socketio');

/**
 * Socket.IO presence from the namespace's own room events: every connected socket is on the
 * error feed (its own room stands for its connection), and on each job whose room it is in. The
 * clientId is the socket id, which a recovered session keeps: a client back within the grace
 * period, on any gateway, never left.
 */
export function trackSocketIoPresence(presence: GatewayPresence, nsp: Namespace): void {
  if (!presence.enabled) return;
  const channelOf = (room: string, id: string): string | undefined => {
    if (room === id) return PRESENCE_CHANNELS.errors;
    return room.startsWith(JOB_ROOM_PREFIX) ? PRESENCE_CHANNELS.jobs(room.slice(JOB_ROOM_PREFIX.length)) : undefined;
  };
  const memberOf = (id: string): PresenceMember => {
    const data = nsp.sockets.get(id)?.data as SocketIoData | undefined;
    return { clientId: id, userId: data?.user?.sub ?? null, info: SOCKETIO_INFO };
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

/** A socket subscribed to diffs; a resuming subscription's answer is its ack, sent before the diffs that follow it. */
class SocketIoDiffSubscriber extends DiffSubscriber {
  constructor(
    name: string,
    private readonly socket: Socket,
    /** Until answered (then dropped: the socket keeps no closure per subscription). */
    private ack: ((value: unknown) => void) | undefined,
  ) {
    super(name);
  }

  answer(value: unknown): void {
    const ack = this.ack;
    this.ack = undefined;
    ack?.(value);
  }

  resumed(answer: PresenceResumed): void {
    this.answer({ ok: true, ...answer });
  }

  diff(diff: PresenceDiff): void {
    this.socket.emit(PRESENCE_EVENTS.diff, diff);
  }
}

const UNAVAILABLE = { ok: false, error: 'presence is temporarily unavailable' } as const;
export const PRESENCE_DISABLED = { ok: false, error: 'presence is disabled on this gateway (PRESENCE_ENABLED=false)' } as const;

type Listener = (this: Socket, ...args: unknown[]) => void;

/** The presence event handlers, made once per gateway and shared by every socket (`this` is the socket): an idle connection holds no closure of its own for them. */
const handlersOf = new WeakMap<GatewayPresence, Record<string, Listener>>();

function presenceHandlers(presence: GatewayPresence): Record<string, Listener> {
  let handlers = handlersOf.get(presence);
  if (handlers !== undefined) return handlers;
  const enabled = presence.enabled;
  handlers = {
    [PRESENCE_EVENTS.get](this: Socket, channel: unknown, ...rest: unknown[]) {
      const ack = ackOf(rest) as ((value: unknown) => void) | undefined;
      const name = socketIoPresenceName(channel);
      if (ack === undefined) return;
      if (!enabled) return ack(PRESENCE_DISABLED);
      if (name === undefined) return ack(BAD_CHANNEL);
      presence.clients.snapshot(name).then(
        (snapshot) => ack(snapshot ?? BAD_CHANNEL),
        () => ack(UNAVAILABLE),
      );
    },
    [PRESENCE_EVENTS.subscribe](this: Socket, channel: unknown, ...rest: unknown[]) {
      const ack = ackOf(rest) as ((value: unknown) => void) | undefined;
      if (!enabled) return ack?.(PRESENCE_DISABLED);
      const name = socketIoPresenceName(channel);
      if (name === undefined) return ack?.(BAD_CHANNEL);
      const resume = resumeOf(rest[0]);
      if (!resume.ok) return ack?.({ ok: false, error: resume.error });
      const subscriber = new SocketIoDiffSubscriber(name, this, ack);
      presence.subscribeDiffs(this, subscriber, resume.resume).then(
        () => subscriber.answer({ ok: true }),
        () => subscriber.answer(UNAVAILABLE),
      );
    },
    [PRESENCE_EVENTS.unsubscribe](this: Socket, channel: unknown, ...rest: unknown[]) {
      const name = socketIoPresenceName(channel);
      if (name !== undefined) presence.unsubscribeDiffs(this, name);
      ackOf(rest)?.(!enabled ? PRESENCE_DISABLED : name === undefined ? BAD_CHANNEL : { ok: true });
    },
    disconnect(this: Socket) {
      presence.unsubscribeDiffs(this);
    },
  };
  handlersOf.set(presence, handlers);
  return handlers;
}

/**
 * Presence events of one socket (opt-in): `presence:get` answers the channel's snapshot in its ack,
 * `presence:subscribe` / `presence:unsubscribe` start and stop `presence:diff` events.
 */
export function registerPresenceEvents(presence: GatewayPresence, socket: Socket): void {
  for (const [event, listener] of Object.entries(presenceHandlers(presence))) socket.on(event, listener);
}
