import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import {
  ClusterAdapter,
  MessageType,
  type Adapter,
  type BroadcastOptions,
  type ClusterMessage,
  type ClusterResponse,
  type Offset,
  type Session,
} from 'socket.io-adapter';
import type { ChannelMessage, Engine } from '@switchboard/engine';
import {
  SOCKET_IO_EVENT_PACKET,
  SOCKET_IO_MESSAGE,
  parseSocketIoMessage,
  socketIoChannel,
  socketIoTargets,
  withTimeout,
  type SocketIoMessage,
} from '@switchboard/protocol';
import { ChannelFeed } from '../feed/channel-feed.js';
import type { SubscriptionMonitor } from '../feed/subscription-monitor.js';
import type { GatewayMetrics } from '../metrics.js';
import { RECOVERY_OFFSET_EVENT, formatRecoveryOffset, parseRecoveryOffset, partOffset, type RecoveryPoint } from './recovery-offset.js';
import { RestoreReads } from './restore-reads.js';
import type { SessionStore, StoredSession } from './session-store.js';

export const SOCKET_IO_ENDPOINT = 'socket.io';

export interface EngineAdapterDeps {
  engine: Engine;
  sessions: SessionStore;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Tells the namespace's feed to catch up after a restored subscription or a recovered probe. */
  subscription: SubscriptionMonitor;
  /** HISTORY_SIZE. */
  historySize: number;
}

/** A socket's private session id (set by Socket.IO when connection state recovery is on). */
const pidOf = (socket: Socket | undefined): string | undefined => (socket as unknown as { pid?: string } | undefined)?.pid;

/**
 * Why a reconnecting client's session was not recovered (the `reason` of
 * `switchboard_socketio_recovery_failures_total`): its offset is not one of ours, the channel's
 * epoch changed (Redis lost its data) or this node's feed has not started, no session is stored
 * under its id (expired, or it left for good), the history no longer holds every frame after
 * its offset, the server disconnected it meanwhile, or the history kept moving under the read.
 * `no_offset` (the client had not processed any packet) is counted where Socket.IO skips the
 * restore altogether, and `error` is a failed read.
 */
export type RecoveryFailure =
  | 'offset_invalid'
  | 'no_offset'
  | 'epoch_changed'
  | 'no_session'
  | 'history_too_short'
  | 'disconnected'
  | 'history_race'
  | 'error';

/** Counts a reconnect that asked for its session and did not get it. */
export function countRecoveryFailure(metrics: GatewayMetrics, reason: RecoveryFailure): void {
  metrics.resumes.inc({ endpoint: SOCKET_IO_ENDPOINT, outcome: 'not_recovered' });
  metrics.socketioRecoveryFailures.inc({ reason });
}

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

/** Sender id given to this node's own broadcasts when they come back through the channel. */
const ECHO_UID = 'self';
/** How many parsed history frames recoveries share. */
const REPLAY_CACHE_FRAMES = 1024;
/** A recovery stops after this many history reads racing other recoveries (never in practice). */
const MAX_HISTORY_READS = 5;

/** The Socket.IO adapter class for `new Server({ adapter })`, bound to this gateway's engine. */
export function engineAdapter(deps: EngineAdapterDeps): typeof Adapter {
  const bound = class extends EngineAdapter {
    constructor(nsp: Namespace) {
      super(nsp, deps);
    }
  };
  return bound;
}

/**
 * Socket.IO on the project's own engine. Every room operation of a namespace (broadcast, sockets
 * joining or leaving rooms, disconnects) is a frame of one engine channel: it gets an offset and
 * a place in the channel's history, and reaches every gateway in offset order. Each packet is
 * encoded once per gateway and written to all its local recipients.
 *
 * Connection state recovery: a socket that drops is saved in the engine; when its client comes
 * back, on this gateway or any other, with the last offset it processed, the session is
 * restored with every packet it missed, read from the history and filtered by its rooms (room
 * changes made meanwhile are replayed too, so a socket removed from a room gets nothing more
 * from it). Nothing is buffered per socket.
 */
export class EngineAdapter extends ClusterAdapter {
  private readonly feed: ChannelFeed;
  private readonly reads: RestoreReads;
  /** Frames parsed for replays, by `<epoch>:<offset>`, oldest first. */
  private readonly replayCache = new Map<string, SocketIoMessage | undefined>();
  private started: Promise<void> | undefined;
  /** Sockets whose rooms changed since their session was last stored. */
  private readonly unsaved = new Set<string>();
  /** Sockets whose final session Socket.IO just handed over (their connection dropped). */
  private readonly dropped = new Set<string>();
  private refresher: NodeJS.Timeout | undefined;

  /** The namespace, typed (socket.io-adapter declares `nsp` as any). */
  private get namespace(): Namespace {
    return this.nsp as Namespace;
  }

  constructor(
    nsp: Namespace,
    private readonly deps: EngineAdapterDeps,
  ) {
    super(nsp);
    const { engine, metrics, logger, subscription, historySize } = deps;
    this.feed = new ChannelFeed(
      { engine, metrics, logger, subscription, historySize },
      {
        channel: socketIoChannel(nsp.name),
        deliver: (message) => this.receive(message),
        // Sockets stay connected through an epoch change: they get the new epoch's broadcasts.
        afterEpochChange: 'first',
      },
    );
    this.reads = new RestoreReads(engine, this.feed.channel, deps.sessions);
  }

  /** Subscribes to the namespace's channel; Socket.IO calls it, the gateway awaits it. */
  override init(): Promise<void> {
    if (this.started === undefined) {
      this.started = this.feed.start();
      // Stored sessions expire with the history; those of connected sockets are kept fresh.
      this.refresher = setInterval(() => this.refreshSessions(), (this.deps.sessions.ttlS * 1000) / 3);
      this.refresher.unref();
    }
    return this.started;
  }

  override close(): Promise<void> {
    clearInterval(this.refresher);
    return this.feed.stop();
  }

  protected override async doPublish(message: ClusterMessage): Promise<Offset> {
    const result = await this.deps.engine.commit({
      guard: { kind: 'none' },
      ops: [],
      publish: { channel: this.feed.channel, frame: JSON.stringify(message) },
    });
    return formatRecoveryOffset({ epoch: this.feed.position().epoch, offset: result.offset ?? 0 });
  }

  protected override async doPublishResponse(_requester: string, response: ClusterResponse): Promise<void> {
    await this.doPublish(response as unknown as ClusterMessage);
  }

  /**
   * A broadcast from this gateway is published only; it is delivered to the local sockets when it
   * comes back through the channel, in offset order with everything else, so a recovering client
   * can never fall between the local send and the history.
   */
  override async broadcast(packet: unknown, opts: BroadcastOptions): Promise<void> {
    if (opts.flags?.local) return super.broadcast(packet, opts);
    const message = {
      type: MessageType.BROADCAST,
      data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} } },
    } as Parameters<ClusterAdapter['publishAndReturnOffset']>[0];
    try {
      await this.publishAndReturnOffset(message);
    } catch (err) {
      this.deps.metrics.socketioErrors.inc({ reason: 'publish_failed' });
      this.deps.logger.warn({ err }, 'Socket.IO broadcast not published');
    }
  }

  private receive(channelMessage: ChannelMessage): void {
    const parsed = parseSocketIoMessage(channelMessage.frame);
    if (!parsed.ok) {
      this.deps.metrics.socketioErrors.inc({ reason: 'invalid_adapter_message' });
      this.deps.logger.warn({ error: parsed.error, offset: channelMessage.offset }, 'invalid Socket.IO adapter message ignored');
      return;
    }
    const message = parsed.value;
    if (message.type === SOCKET_IO_MESSAGE.broadcasts) {
      // Each part is a broadcast of its own, with its own recovery offset within the frame.
      const { parts } = message.data;
      this.deps.metrics.socketioBroadcasts.inc({ kind: 'broadcast' }, parts.length);
      parts.forEach((data, i) => {
        const part = { uid: message.uid === this.uid ? ECHO_UID : message.uid, nsp: message.nsp, type: MessageType.BROADCAST, data };
        this.onMessage(part as ClusterMessage, partOffset(channelMessage, i, parts.length));
      });
      return;
    }
    this.deps.metrics.socketioBroadcasts.inc({ kind: message.type === SOCKET_IO_MESSAGE.broadcast ? 'broadcast' : 'request' });
    const own = message.uid === this.uid && message.type === SOCKET_IO_MESSAGE.broadcast && message.data.requestId === undefined;
    this.onMessage((own ? { ...message, uid: ECHO_UID } : message) as ClusterMessage, formatRecoveryOffset(channelMessage));
  }

  /**
   * Sends a socket that starts a new session the offset of the last frame this node delivered:
   * it gets every later frame live, so it can recover from there even if it drops before any
   * broadcast reaches it. Written to the socket alone, not published (no history slot).
   */
  sendRecoveryOffset(socket: Socket): void {
    const packet = { type: SOCKET_IO_EVENT_PACKET, data: [RECOVERY_OFFSET_EVENT, formatRecoveryOffset(this.feed.position())] };
    (socket as unknown as { packet(packet: unknown): void }).packet(packet);
  }

  /*
   * Sessions are stored while sockets are connected, not only when they drop: a gateway killed
   * outright stores nothing, and a client may reconnect elsewhere before a drop is noticed here.
   */

  override addAll(id: string, rooms: Set<string>): void {
    // The in-memory base applies it at once (its promise type is for adapters that forward).
    void super.addAll(id, rooms);
    this.markUnsaved(id);
  }

  override del(id: string, room: string): void {
    void super.del(id, room);
    this.markUnsaved(id);
  }

  override delAll(id: string): void {
    const socket = this.namespace.sockets.get(id);
    super.delAll(id);
    this.unsaved.delete(id);
    // A socket that left for good (it or the server said so) is not to be recovered.
    const pid = pidOf(socket);
    if (!this.dropped.delete(id) && socket?.connected && pid !== undefined) this.deps.sessions.forget(pid);
  }

  override persistSession(session: StoredSession): void {
    this.dropped.add(session.sid);
    this.deps.sessions.save(session);
  }

  private markUnsaved(id: string): void {
    if (this.unsaved.size === 0) setImmediate(() => this.saveSessions());
    this.unsaved.add(id);
  }

  private saveSessions(): void {
    for (const id of this.unsaved) {
      const socket = this.namespace.sockets.get(id);
      const pid = pidOf(socket);
      if (socket?.connected && pid !== undefined) this.deps.sessions.save({ sid: id, pid, rooms: [...socket.rooms], data: socket.data });
    }
    this.unsaved.clear();
  }

  /**
   * Stores the session of every connected socket now and resolves once stored (or after
   * `timeoutMs`, so that a Redis outage does not hold a drain).
   */
  async storeSessions(timeoutMs: number): Promise<void> {
    this.refreshSessions();
    this.saveSessions();
    await withTimeout(this.deps.sessions.flush(), timeoutMs, undefined);
  }

  private refreshSessions(): void {
    for (const id of this.namespace.sockets.keys()) this.markUnsaved(id);
  }

  /**
   * The session of a reconnecting client (`pid`, with the recovery offset of the last packet it
   * processed) and the packets it missed since, in order; null when the session is unknown or
   * expired, the history no longer reaches back to that offset, or the epoch changed.
   */
  override async restoreSession(pid: string, offset: string): Promise<Session> {
    const outcome = await this.restore(pid, offset).catch((err: unknown): RecoveryFailure => {
      this.deps.logger.warn({ err }, 'Socket.IO session not restored');
      return 'error';
    });
    const { metrics } = this.deps;
    if (typeof outcome === 'string') {
      countRecoveryFailure(metrics, outcome);
      this.deps.logger.info({ reason: outcome, offset: offset.slice(0, 80), at: this.feed.position() }, 'Socket.IO session not recovered');
      // Socket.IO takes null as "not recovered"; its typings leave null out.
      return null as unknown as Session;
    }
    metrics.resumes.inc({ endpoint: SOCKET_IO_ENDPOINT, outcome: 'recovered' });
    metrics.replayedFrames.inc({ endpoint: SOCKET_IO_ENDPOINT }, outcome.missedPackets.length);
    return outcome;
  }

  private async restore(pid: string, offset: string): Promise<Session | RecoveryFailure> {
    const from = parseRecoveryOffset(offset);
    if (from === undefined) return 'offset_invalid';
    if (from.epoch !== this.feed.position().epoch) return 'epoch_changed';
    // Held from the history read until the restored socket is back in its rooms: every frame
    // is then either among its missed packets or delivered to it live, never both.
    const release = this.feed.hold();
    try {
      // The session and the history are read together (each read shared with the other
      // restores in progress).
      const missed = await this.missedSince(from, this.reads.session(pid));
      return typeof missed === 'string' ? missed : this.replay(missed.session, from, missed.frames);
    } finally {
      // Delivery resumes once every callback queued by now has run: Socket.IO puts the restored
      // socket back in its rooms in one of them.
      setImmediate(release);
    }
  }

  /**
   * The session, and the channel's frames after `from` up to the last one this gateway
   * delivered (the restore returns at once from there, so the restored socket gets every later
   * frame live).
   */
  private async missedSince(
    from: RecoveryPoint,
    sessionRead: Promise<StoredSession | undefined>,
  ): Promise<{ session: StoredSession; frames: ChannelMessage[] } | RecoveryFailure> {
    const frames: ChannelMessage[] = [];
    // Inside a frame of several broadcasts, the rest of that frame was missed too.
    const after = from.part === undefined ? from.offset : from.offset - 1;
    let since = Math.min(after, this.feed.position().offset);
    for (let reads = 0; reads < MAX_HISTORY_READS; reads++) {
      // Nothing may be awaited between the last history read and the socket's return to its
      // rooms: other restores advance the feed, and what they deliver meanwhile would reach
      // neither this socket's missed packets nor, live, the socket itself.
      const [history, session] = await Promise.all([this.reads.history({ epoch: from.epoch, since }), sessionRead]);
      if (session === undefined) return 'no_session';
      if (!history.recovered) return history.epoch === from.epoch ? 'history_too_short' : 'epoch_changed';
      frames.push(...history.messages);
      // Frames this gateway had not got yet go to its other sockets first, so the restored
      // socket's missed packets and what it gets live meet exactly.
      this.feed.advance(history.epoch, history.messages);
      const here = this.feed.position();
      if (here.epoch !== from.epoch) return 'epoch_changed';
      if (history.offset >= here.offset) return { session, frames: frames.filter((m) => m.offset > after && m.offset <= here.offset) };
      since = history.offset;
    }
    return 'history_race';
  }

  /**
   * A history frame, parsed once for every restore that replays it (a drained gateway's clients
   * all replay the same few frames). Never handed to Socket.IO, which changes what it is given.
   */
  private parsedForReplay(frame: ChannelMessage): SocketIoMessage | undefined {
    const key = `${frame.epoch}:${frame.offset}`;
    if (this.replayCache.has(key)) return this.replayCache.get(key);
    const parsed = parseSocketIoMessage(frame.frame);
    const message = parsed.ok ? parsed.value : undefined;
    this.replayCache.set(key, message);
    // A Map iterates in insertion order: the first key is the oldest.
    if (this.replayCache.size > REPLAY_CACHE_FRAMES) this.replayCache.delete(this.replayCache.keys().next().value as string);
    return message;
  }

  /**
   * Replays the missed frames against the session: broadcasts it is targeted by become its
   * missed packets, room changes that target it change its rooms, a disconnect ends it.
   */
  private replay(session: StoredSession, from: RecoveryPoint, frames: ChannelMessage[]): Session | RecoveryFailure {
    const rooms = new Set(session.rooms);
    const missedPackets: unknown[][] = [];
    for (const frame of frames) {
      const message = this.parsedForReplay(frame);
      if (message === undefined || message.nsp !== this.namespace.name) continue;
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
    this.deps.logger.debug({ sid: session.sid, from, missed: missedPackets.length }, 'Socket.IO session restored');
    return { ...session, rooms: [...rooms], missedPackets };
  }
}
