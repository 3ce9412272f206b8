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
import { SOCKET_IO_EVENT_PACKET, SOCKET_IO_MESSAGE, parseSocketIoMessage, socketIoChannel } from '@switchboard/protocol';
import { ChannelFeed } from '../feed/channel-feed.js';
import type { SubscriptionMonitor } from '../feed/subscription-monitor.js';
import type { GatewayMetrics } from '../metrics.js';
import { MissedPacketEncoder, writeEncodedPackets } from './missed-packets.js';
import { RECOVERY_OFFSET_EVENT, formatRecoveryOffset, parseRecoveryOffset, partOffset, type RecoveryPoint } from './recovery-offset.js';
import { ReplayCache, replaySession } from './replay.js';
import { RestoreReads } from './restore-reads.js';
import { SessionKeeper } from './session-keeper.js';
import type { SessionStore, StoredSession } from './session-store.js';
import { eventFrameText, readPlainBroadcasts } from './broadcast-text.js';
import { roomTopic, type LongPollingCount, type TopicPublisher } from './uws-topics.js';
import { SOCKET_IO_ENDPOINT, countRecoveryFailure, type RecoveryFailure } from './recovery-failures.js';


export interface EngineAdapterDeps {
  engine: Engine;
  sessions: SessionStore;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Tells the namespace's feed to catch up after a restored subscription or a recovered probe. */
  subscription: SubscriptionMonitor;
  /** HISTORY_SIZE. */
  historySize: number;
  /**
   * This gateway's engine.io connections on long-polling, when Socket.IO runs on uWebSockets.js
   * (`attachApp`, whose broadcast publishes to uWS topics): with none, a broadcast skips the walk
   * over its audience that looks for them.
   */
  longPolling?: LongPollingCount;
  /**
   * The uWebSockets.js app Socket.IO is attached to: plain broadcasts are published to its
   * topics as the text their frame carries (see `publishText`).
   */
  app?: TopicPublisher;
}

/** Sender id given to this node's own broadcasts when they come back through the channel. */
const ECHO_UID = 'self';
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
  private readonly replayCache = new ReplayCache();
  private readonly missedEncoder: MissedPacketEncoder;
  /** The missed packets of restored sockets, by id, until they are written (see `replayMissed`). */
  private readonly missedBySocket = new Map<string, unknown[][]>();
  private readonly sessions: SessionKeeper;
  private started: Promise<void> | undefined;
  /** Set while a broadcast is delivered that needs no walk over its audience (see `apply`). */
  private websocketOnly = false;

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
    this.missedEncoder = new MissedPacketEncoder(nsp.name);
    this.sessions = new SessionKeeper(nsp, deps.sessions);
    // Socket.IO's uWS broadcast publishes to the topic, then walks the audience (`apply`, private
    // in socket.io-adapter's typings) for long-polling sockets: skipped while a broadcast that
    // needs no walk is delivered (there are none).
    const self = this as unknown as { apply(opts: BroadcastOptions, callback: (socket: Socket) => void): void };
    const apply = self.apply.bind(this);
    self.apply = (opts, callback) => {
      if (!this.websocketOnly) apply(opts, callback);
    };
  }

  /** Subscribes to the namespace's channel; Socket.IO calls it, the gateway awaits it. */
  override init(): Promise<void> {
    if (this.started === undefined) {
      this.started = this.feed.start();
      this.sessions.start();
    }
    return this.started;
  }

  override close(): Promise<void> {
    this.sessions.stop();
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
    if (this.publishText(channelMessage)) return;
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
        if (this.noAudienceHere(data.opts.rooms)) return;
        const part = { uid: message.uid === this.uid ? ECHO_UID : message.uid, nsp: message.nsp, type: MessageType.BROADCAST, data };
        this.deliver(part as ClusterMessage, partOffset(channelMessage, i, parts.length), this.needsNoWalk(data));
      });
      return;
    }
    this.deps.metrics.socketioBroadcasts.inc({ kind: message.type === SOCKET_IO_MESSAGE.broadcast ? 'broadcast' : 'request' });
    const plain = message.type === SOCKET_IO_MESSAGE.broadcast && message.data.requestId === undefined;
    if (plain && this.noAudienceHere(message.data.opts.rooms)) return;
    const own = message.uid === this.uid && plain;
    this.deliver((own ? { ...message, uid: ECHO_UID } : message) as ClusterMessage, formatRecoveryOffset(channelMessage), plain && this.needsNoWalk(message.data));
  }

  /**
   * Socket.IO's uWS fast publish without its parse and encode, for a frame of plain broadcasts
   * (each to everyone or one room, no exception, no flags, no ack) while no connection here is on
   * long-polling: each is published to its topic as the text the frame carries, the recovery
   * offset appended as socket.io-adapter appends it, once per gateway and written by uWS to every
   * subscriber. Whether it was (else the frame takes the full parse).
   */
  private publishText(channelMessage: ChannelMessage): boolean {
    const { app, longPolling, metrics } = this.deps;
    if (app === undefined || longPolling === undefined || longPolling.count !== 0 || !this.recovery) return false;
    const nsp = this.namespace.name;
    const parts = readPlainBroadcasts(channelMessage.frame, nsp);
    if (parts === undefined) return false;
    metrics.socketioBroadcasts.inc({ kind: 'broadcast' }, parts.length);
    parts.forEach(({ rooms, openDataText }, i) => {
      if (this.noAudienceHere(rooms)) return;
      const [room] = rooms;
      app.publish(roomTopic(nsp, room), eventFrameText(nsp, openDataText, partOffset(channelMessage, i, parts.length)), false);
    });
    return true;
  }

  /** Whether connection state recovery is on (it appends the offsets; always, on a gateway). */
  private get recovery(): boolean {
    return Boolean((this.namespace.server as unknown as { opts: { connectionStateRecovery?: unknown } }).opts.connectionStateRecovery);
  }

  /**
   * Whether no socket here is in the audience of a plain broadcast to `rooms` (all when empty):
   * it is skipped, not encoded for nobody. Its place in the history is the channel's either way.
   */
  private noAudienceHere(rooms: readonly string[]): boolean {
    return rooms.length === 0 ? this.sids.size === 0 : rooms.every((room) => !this.rooms.has(room));
  }

  /**
   * Whether Socket.IO's uWS broadcast delivers this one with its topic publish alone: one room
   * at most and no exception (its fast path: encoded once, one `publish`), and no connection
   * here on long-polling, the only sockets its walk over the audience would write to.
   */
  private needsNoWalk(data: { opts: { rooms: string[]; except: string[] } }): boolean {
    const { longPolling } = this.deps;
    return longPolling !== undefined && longPolling.count === 0 && data.opts.rooms.length <= 1 && data.opts.except.length === 0;
  }

  private deliver(message: ClusterMessage, offset: string, websocketOnly: boolean): void {
    this.websocketOnly = websocketOnly;
    try {
      this.onMessage(message, offset);
    } finally {
      this.websocketOnly = false;
    }
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

  // Room changes and drops go to the session bookkeeping (see SessionKeeper).

  override addAll(id: string, rooms: Set<string>): void {
    // The in-memory base applies it at once (its promise type is for adapters that forward).
    void super.addAll(id, rooms);
    this.sessions.changed(id);
  }

  override del(id: string, room: string): void {
    void super.del(id, room);
    this.sessions.changed(id);
  }

  override delAll(id: string): void {
    this.missedBySocket.delete(id);
    const socket = this.namespace.sockets.get(id);
    super.delAll(id);
    this.sessions.left(id, socket);
  }

  /** Resolves once socket `id`'s current rooms are stored (see SessionKeeper.written). */
  sessionStored(id: string): Promise<void> {
    return this.sessions.written(id);
  }

  override persistSession(session: StoredSession): void {
    this.sessions.persist(session);
  }

  /** Stores every connected socket's session (see SessionKeeper.storeAll). */
  storeSessions(timeoutMs: number): Promise<void> {
    return this.sessions.storeAll(timeoutMs);
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
    // Written by `replayMissed`, encoded once for every socket that missed them, instead of by
    // Socket.IO, which encodes and writes them one by one for each socket.
    this.missedBySocket.set(outcome.sid, outcome.missedPackets);
    return { ...outcome, missedPackets: [] };
  }

  /**
   * Writes a restored socket's missed packets, in order. Called as Socket.IO emits the socket's
   * `connection`, in the same turn as the restore: delivery to the namespace is held until that
   * turn ends (see `restore`), so they come before anything live, and after the connect packet,
   * where socket.io-client would have put them anyway (it holds events until it is connected).
   */
  replayMissed(socket: Socket): void {
    const missed = this.missedBySocket.get(socket.id);
    if (missed === undefined) return;
    this.missedBySocket.delete(socket.id);
    writeEncodedPackets(socket, missed.map((packet) => this.missedEncoder.encode(packet)));
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
      if (typeof missed === 'string') return missed;
      const restored = replaySession(missed.session, from, missed.frames, this.namespace.name, (frame) => this.replayCache.get(frame));
      if (restored === 'disconnected') return restored;
      this.deps.logger.debug({ sid: restored.sid, from, missed: restored.missedPackets.length }, 'Socket.IO session restored');
      // Socket.IO creates the socket as soon as this returns: its session need not be stored again.
      this.sessions.restored(missed.session);
      return restored;
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
}
