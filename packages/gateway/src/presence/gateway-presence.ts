import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '@switchboard/config';
import type { Engine, HistoryRequest, PresenceMember } from '@switchboard/engine';
import type { FeedDeps } from '../feed/channel-feed.js';
import type { SocketData } from '../ws/connections.js';
import { PRESENCE_CHANNELS, endpointInfo, isClientId } from './channels.js';
import { PresenceClientFeed } from './client-feed.js';
import type { DiffSubscriber } from './diff-stream.js';
import { PresenceTracker } from './tracker.js';

/**
 * A connection's diff subscribers, kept on the connection object itself (a raw socket's data, a
 * Socket.IO socket) under a symbol: one subscriber as itself, more as an array. A WeakMap entry
 * and an array per connection cost more than the subscription (bench: presence overhead).
 */
const SUBSCRIBERS = Symbol('presence diff subscribers');
type Holder = { [SUBSCRIBERS]?: DiffSubscriber | DiffSubscriber[] | undefined };

function subscribersOf(connection: object): DiffSubscriber[] {
  const held = (connection as Holder)[SUBSCRIBERS];
  return held === undefined ? [] : Array.isArray(held) ? held : [held];
}

function setSubscribers(connection: object, subscribers: DiffSubscriber[]): void {
  // Only ever set on a connection that subscribed: the others keep their shape.
  if (subscribers.length === 0 && (connection as Holder)[SUBSCRIBERS] === undefined) return;
  (connection as Holder)[SUBSCRIBERS] = subscribers.length === 0 ? undefined : subscribers.length === 1 ? subscribers[0] : subscribers;
}

/** Raw endpoints whose every connection is on one channel. */
const ENDPOINT_CHANNELS: Readonly<Record<string, string>> = {
  analytics: PRESENCE_CHANNELS.analytics,
  availability: PRESENCE_CHANNELS.availability,
};

const subOf = (claims: Record<string, unknown> | undefined): string | null => {
  const sub = claims?.['sub'];
  return typeof sub === 'string' && sub !== '' ? sub : null;
};

/**
 * A fresh UUID as one flat string: `randomUUID()` returns a tree of concatenated pieces, which
 * V8 keeps as such (about 200 bytes more, for as long as the connection lives) until something
 * hashes it.
 */
export const flatUuid = (): string => Buffer.from(randomUUID(), 'latin1').toString('latin1');

/** The clientId of a new connection: the one it chose (`?clientId=`), or a fresh one. */
export const connectionClientId = (chosen: string): string => (isClientId(chosen) ? chosen : flatUuid());

/**
 * The gateway's presence: what the endpoints call on open, close, join and leave. Every call is
 * synchronous and cheap (the tracker batches the writes).
 */
export class GatewayPresence {
  readonly tracker: PresenceTracker;
  /** Presence for clients that ask: snapshots and diffs (see client-feed.ts). */
  readonly clients: PresenceClientFeed;

  /** PRESENCE_ENABLED: when false, no connection is tracked and clients' presence messages are refused. */
  readonly enabled: boolean;
  private readonly maxPerUser: number;
  private readonly logger: Logger;
  private readonly owner: string;

  /** `feeds`: what the diff channels' feeds need (the node's metrics and subscription monitor). */
  constructor(
    private readonly engine: Engine,
    config: Config,
    logger: Logger,
    feeds: Pick<FeedDeps, 'metrics' | 'subscription'>,
  ) {
    // Unique per process: a restarted gateway never removes members its predecessor handed over.
    this.owner = `${config.nodeId}:${randomBytes(4).toString('hex')}`;
    this.logger = logger.child({ component: 'presence' });
    this.clients = new PresenceClientFeed(engine, { ...feeds, engine, logger: this.logger, historySize: config.historySize });
    this.tracker = new PresenceTracker(engine, {
      ...config.presence,
      owner: this.owner,
      logger: this.logger,
      onWritten: (joins, leaves) => this.clients.written(joins, leaves),
    });
    this.maxPerUser = config.maxConnectionsPerUser;
    this.enabled = config.presence.enabled;
  }

  start(): void {
    if (this.enabled) this.tracker.start();
  }

  stop(): void {
    this.tracker.stop();
    this.clients.stop();
  }

  /**
   * A connection (a raw socket's data, a Socket.IO socket) subscribes to a channel's diffs
   * (`subscriber.name`), resuming from a position when it gives one; a second subscription to
   * the same channel without one is the first one, with one it replaces it (the client
   * resynchronises).
   */
  async subscribeDiffs(connection: object, subscriber: DiffSubscriber, resume?: HistoryRequest): Promise<void> {
    const { name } = subscriber;
    if (subscribersOf(connection).some((s) => s.name === name)) {
      if (resume === undefined) return;
      this.unsubscribeDiffs(connection, name);
    }
    // Held while attaching, so a second subscription at once is the first one.
    setSubscribers(connection, [...subscribersOf(connection), subscriber]);
    let stream;
    try {
      stream = await this.clients.subscribe(name, subscriber, resume);
    } catch (err) {
      setSubscribers(connection, subscribersOf(connection).filter((s) => s !== subscriber));
      throw err;
    }
    // Closed or unsubscribed meanwhile.
    if (!subscribersOf(connection).includes(subscriber)) return this.clients.unsubscribe(stream, subscriber);
    subscriber.stream = stream;
  }

  /** Stops a connection's diffs of one channel, or of every channel (it closed). */
  unsubscribeDiffs(connection: object, name?: string): void {
    const held = subscribersOf(connection);
    if (held.length === 0) return;
    setSubscribers(connection, name === undefined ? [] : held.filter((s) => s.name !== name));
    for (const subscriber of held) {
      if (name !== undefined && subscriber.name !== name) continue;
      if (subscriber.stream !== undefined) this.clients.unsubscribe(subscriber.stream, subscriber);
    }
  }

  /** A socket's clientId: the one its admission gave it (this gateway's own otherwise). */
  clientIdOf(data: SocketData): string {
    return data.presenceId ?? `${this.owner}.${data.id}`;
  }

  /** A socket's member: its clientId, its user (the JWT `sub`, or `userId`), its endpoint. */
  member(data: SocketData, userId: string | null = subOf(data.claims)): PresenceMember {
    return { clientId: this.clientIdOf(data), userId, info: endpointInfo(data.endpoint) };
  }

  /**
   * A raw socket opened: on the analytics and availability endpoints, it joins their channel; with
   * a JWT, it counts among its user's connections.
   */
  opened(data: SocketData): void {
    if (!this.enabled) return;
    const channel = ENDPOINT_CHANNELS[data.endpoint];
    const member = this.member(data);
    if (channel !== undefined) this.tracker.join(channel, member);
    if (member.userId !== null) this.userOpened({ ...member, userId: member.userId });
  }

  closed(data: SocketData): void {
    this.unsubscribeDiffs(data);
    if (!this.enabled) return;
    const channel = ENDPOINT_CHANNELS[data.endpoint];
    if (channel !== undefined) this.tracker.leave(channel, this.clientIdOf(data));
    const userId = subOf(data.claims);
    if (userId !== null) this.userClosed(userId, this.clientIdOf(data));
  }

  /** A connection of a user, counted for MAX_CONNECTIONS_PER_USER (an unlisted presence channel per user). */
  userOpened(member: PresenceMember & { userId: string }): void {
    if (this.enabled) this.tracker.join(PRESENCE_CHANNELS.user(member.userId), member, true);
  }

  userClosed(userId: string, clientId: string): void {
    if (this.enabled) this.tracker.leave(PRESENCE_CHANNELS.user(userId), clientId);
  }

  /**
   * Why a new connection of `userId` is refused (MAX_CONNECTIONS_PER_USER reached across the
   * cluster), or undefined. A client coming back with its clientId is not counted twice. Fails
   * open: presence unreachable refuses no one.
   */
  async userLimitRefusal(userId: string, clientId: string): Promise<string | undefined> {
    const limit = this.maxPerUser;
    if (limit === 0) return undefined;
    try {
      const { members } = await this.engine.presence.members(PRESENCE_CHANNELS.user(userId), Math.min(1000, limit * 2 + 10));
      const others = members.filter((m) => m.clientId !== clientId).length;
      return others >= limit ? `too many connections for this user (MAX_CONNECTIONS_PER_USER is ${limit})` : undefined;
    } catch (err) {
      this.logger.warn({ err }, 'per-user connection count unavailable; connection admitted');
      return undefined;
    }
  }

  join(channel: string, member: PresenceMember): void {
    if (this.enabled) this.tracker.join(channel, member);
  }

  leave(channel: string, clientId: string): void {
    if (this.enabled) this.tracker.leave(channel, clientId);
  }
}
