import type { BackoffOptions, Random } from './backoff.js';
import type { Emitter } from './emitter.js';
import { TypedEvents } from './typed-events.js';
import { ClientClosedError, FrameError } from './errors.js';
import { excerpt, parseTypedFrame, type JsonObject } from './guards.js';
import { PendingReplies } from './pending.js';
import { PresenceFollower, readPresenceDiff, readPresenceResumed, readPresenceSnapshot, type Occupancy, type PresenceDiff, type PresenceSnapshot, type PresenceUpdate } from './presence.js';
import { ReconnectingSocket, type ConnectionState, type ReconnectingSocketOptions, type TokenProvider } from './reconnecting-socket.js';
import { ChannelCursor, type ChannelPosition, type Gap, type ResumeOutcome, type ResumeRequest } from './resume.js';
import type { WebSocketConstructor } from './websocket.js';

/** Options every raw-WebSocket client takes. */
export interface RawClientOptions {
  /** The gateway (or load balancer): `https://rt.example.com`, `ws://localhost:8080`, or the endpoint's full URL. */
  url: string;
  /** WebSocket implementation; defaults to the global one. In Node 20: `import WebSocket from 'ws'`. */
  WebSocket?: WebSocketConstructor;
  /** A JWT. */
  token?: string;
  /** Called before every (re)connect for a current JWT; takes precedence over `token`. */
  getToken?: TokenProvider;
  /** Backoff settings, or `false` to never reconnect. */
  reconnect?: Partial<BackoffOptions> | false;
  /** Deadline for `ping()`, `refreshStats()` and other requests, ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Deadline for one connection attempt, ms (default 15 000). */
  connectTimeoutMs?: number;
  /** Do not connect until `connect()` (default: connect at once). */
  autoConnect?: boolean;
  /** Injected randomness for the jitter (tests). */
  random?: Random;
  /**
   * Resume from this position on the first connection too (one saved from `position` earlier,
   * e.g. across a page reload); later reconnects always resume from where the client is.
   */
  resumeFrom?: ChannelPosition;
  /**
   * After Redis lost the channel (a new epoch), ask for the new epoch's frames in full: answered
   * `recovered: true, epochChanged: true` when its history still holds them all (docs/raw-resume.md).
   */
  acrossEpochs?: boolean;
}

/** What `ping()` measured. */
export interface PingResult {
  /** Round-trip time, ms. */
  rttMs: number;
  /** The server's clock at the reply (ISO-8601). */
  serverTime: string;
}

/** Events every raw-WebSocket client emits. */
export type BaseEvents = {
  state: ConnectionState;
  /** Connected (and, on `/ws/logs`, authenticated): subscriptions have been sent again. */
  open: undefined;
  disconnect: { code: number; reason: string; reconnectInMs: number | undefined };
  /**
   * A reconnect asked to resume: the server's answer. Recovered: the `count` missed frames follow
   * as ordinary events, before live ones. Not recovered: the client refetched its state (fresh
   * stats; on `/ws/logs` the history) and a `gap` event says what was lost.
   */
  resumed: ResumeOutcome;
  /** Frames of this channel were missed and will not arrive (see `Gap.reason`). */
  gap: Gap;
  /** Refused credentials (AuthError), malformed frames (FrameError), timeouts. Never thrown. */
  error: Error;
  /** `{"type":"error","message"}` from the server: it refused one of our messages. */
  server_error: { message: string };
  /** The answer to `ping()` (every raw endpoint answers one). */
  pong: { timestamp: string };
  /** Who joined and left the endpoint's channel (only after `onPresence`): the net change, at most 4 live per second. */
  presence_diff: PresenceDiff;
};

/** How a raw client connects: its channel, and its URL given the token and the resume parameters. */
export interface RawEndpointSettings extends Pick<ReconnectingSocketOptions, 'readyOnOpen' | 'keepAlive'> {
  /** The channel whose offsets this client follows (and resumes). */
  channel: string;
  url: (token: string | undefined, resume: ResumeRequest | undefined) => string;
}

/** `?epoch=&since=` (and `acrossEpochs=1`) of a resuming upgrade URL. */
export const resumeQuery = (resume: ResumeRequest | undefined): Record<string, string | undefined> =>
  resume === undefined ? {} : { epoch: resume.epoch, since: String(resume.offset), ...(resume.acrossEpochs === true ? { acrossEpochs: '1' } : {}) };

/**
 * What the raw-endpoint clients share: one reconnecting socket, typed events, parsing that
 * reports bad frames instead of throwing, request/reply matching, and the channel cursor that
 * resumes after every reconnect, drops frames already processed and notices gaps.
 */
export abstract class RawEndpointClient<Events extends BaseEvents> extends TypedEvents<Events> {
  protected readonly socket: ReconnectingSocket;
  protected readonly cursor: ChannelCursor;
  protected readonly replies = new PendingReplies<JsonObject>();
  protected readonly requestTimeoutMs: number;
  /** Whether the channel frame being handled is one a resume replayed. */
  protected replaying = false;
  /** Replayed frames still to come after a recovered resume. */
  private replayLeft = 0;
  /** The endpoint channel's presence, while someone follows it (subscribed again, resuming, after each reconnect). */
  private readonly presenceFollower: PresenceFollower;
  /** Announced open (on `/ws/logs`, authenticated): presence messages may be sent. */
  private usable = false;

  protected constructor(options: RawClientOptions, { channel, url, ...socketOptions }: RawEndpointSettings) {
    super();
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.cursor = new ChannelCursor(channel, options.resumeFrom, options.acrossEpochs);
    this.presenceFollower = new PresenceFollower(
      {
        snapshot: () => this.presence(),
        subscribe: (position) => this.socket.send(position === undefined ? { type: 'presence_subscribe' } : { type: 'presence_subscribe', epoch: position.epoch, since: position.offset }),
        unsubscribe: () => this.socket.send({ type: 'presence_unsubscribe' }),
      },
      () => this.usable && this.socket.isOpen,
    );
    this.socket = new ReconnectingSocket({
      ...socketOptions,
      // Called once per attempt: each one asks to resume from where the client is now.
      url: (token) => url(token, this.cursor.beginConnection()),
      WebSocket: options.WebSocket,
      token: options.token,
      getToken: options.getToken,
      reconnect: options.reconnect,
      connectTimeoutMs: options.connectTimeoutMs,
      random: options.random,
    });
    this.socket.on('state', (state) => this.base.emit('state', state));
    this.socket.on('error', (err) => this.base.emit('error', err));
    this.socket.on('open', ({ token }) => {
      this.cursor.opened();
      this.replayLeft = 0;
      this.replaying = false;
      this.usable = false;
      this.onTransportOpen(token);
    });
    this.socket.on('disconnect', (info) => {
      this.usable = false;
      // What the connection carried will not be answered: owed requests wait for the next one.
      if (info.reconnectInMs === undefined) this.replies.rejectAll(new ClientClosedError(`connection closed (${info.code}) and no reconnect follows`));
      else this.replies.connectionLost();
      this.base.emit('disconnect', info);
    });
    this.socket.on('message', (data) => this.receive(data));
    // Synchronously, so `state` reads 'connecting' from the start (events fire later anyway).
    if (options.autoConnect !== false) this.socket.start();
  }

  /** The base events, emitted through the same emitter (the generic map cannot be indexed directly). */
  private get base(): Emitter<BaseEvents> {
    return this.events<BaseEvents>();
  }

  get state(): ConnectionState {
    return this.socket.state;
  }

  /**
   * The channel's epoch and the last offset this client processed (undefined until a server
   * with epochs answered). Saved, it can seed `resumeFrom` of a later client.
   */
  get position(): ChannelPosition | undefined {
    return this.cursor.current;
  }

  /** Starts connecting (only needed with `autoConnect: false`). */
  connect(): void {
    this.socket.start();
  }

  /** Disconnects for good, rejects pending requests, cancels every timer. */
  close(): void {
    this.socket.close();
    this.replies.rejectAll();
  }

  /** The transport opened: authenticate or replay subscriptions. */
  protected abstract onTransportOpen(token: string | undefined): void;

  /** One parsed frame; returns an error message when the frame does not fit the protocol. */
  protected abstract handleFrame(frame: JsonObject & { type: string }): string | undefined;

  /** The connection is usable: presence follows again, and it is announced. */
  protected announceOpen(): void {
    this.usable = true;
    this.presenceFollower.opened();
    this.base.emit('open', undefined);
  }

  /** Whether the current connection asked to resume (its `resumed` answer may still be on its way). */
  get resuming(): boolean {
    return this.cursor.resuming !== undefined;
  }

  /** The connection's first frame (it carries the channel's `epoch` and latest `offset`). */
  protected receiveHello(frame: JsonObject): void {
    if (this.cursor.onHello(frame).kind === 'fresh') this.resendOwed();
  }

  /**
   * A frame of the channel covering `from`..`to`: false when it was already processed (it is
   * dropped). A jump in offsets is reported as a gap unless `trackGaps` is off (a filter).
   */
  protected acceptChannelFrame(from: number | undefined, to: number | undefined, trackGaps: boolean): boolean {
    return this.placeChannelFrame(from, to, trackGaps) !== 'duplicate';
  }

  /** Like `acceptChannelFrame`, telling apart a frame that covers some processed offsets (`overlap`). */
  protected placeChannelFrame(from: number | undefined, to: number | undefined, trackGaps: boolean): 'new' | 'duplicate' | 'overlap' {
    this.replaying = this.replayLeft > 0;
    if (this.replayLeft > 0) this.replayLeft -= 1;
    if (from === undefined || to === undefined) return 'new';
    const placed = this.cursor.place(from, to, trackGaps);
    if (placed.kind === 'new' && placed.gap !== undefined) {
      this.base.emit('gap', placed.gap);
      this.onFramesLost(placed.gap);
    }
    return placed.kind;
  }

  /**
   * Frames were lost for good — the server could not resume (`not_recovered`), or offsets jumped
   * on a live connection (`offset_jump`: a gateway skipped a hole its history no longer held):
   * refetch what the client's state is missing.
   */
  protected onFramesLost(_gap: Gap): void {
    // Nothing by default: after `not_recovered` the connection's first frame carried fresh state.
  }

  private receiveResumed(frame: JsonObject): string | undefined {
    const answer = this.cursor.onResumed(frame);
    if ('unexpected' in answer) return answer.unexpected;
    this.replayLeft = answer.outcome.recovered ? answer.outcome.count : 0;
    this.base.emit('resumed', answer.outcome);
    if (answer.gap !== undefined) {
      this.base.emit('gap', answer.gap);
      this.onFramesLost(answer.gap);
    }
    this.resendOwed();
    return answer.problem;
  }

  /** The connection is usable (authenticated, its resume answered): send what an earlier one left unanswered. */
  private resendOwed(): void {
    this.replies.resendOwed((message) => this.socket.send(message), this.requestTimeoutMs);
  }

  protected reportServerError(frame: JsonObject): string | undefined {
    if (typeof frame['message'] !== 'string') return 'error frame without a message';
    this.base.emit('server_error', { message: frame['message'] });
    return undefined;
  }

  /** Round trip to the server: `{"type":"ping"}` answered by `{"type":"pong","timestamp"}`. */
  async ping(): Promise<PingResult> {
    const started = Date.now();
    const frame = await this.request({ type: 'ping' }, 'pong');
    return { rttMs: Date.now() - started, serverTime: String(frame['timestamp']) };
  }

  /**
   * Who is connected to the endpoint's channel: the first 100 members (`truncated` when there
   * are more) and the occupancy (connections, distinct users).
   */
  async presence(): Promise<PresenceSnapshot> {
    const snapshot = readPresenceSnapshot(await this.request({ type: 'presence' }, 'presence'));
    if (typeof snapshot === 'string') throw new FrameError(`bad "presence" frame: ${snapshot}`, '');
    return snapshot;
  }

  /** How many are connected to the endpoint's channel. */
  async occupancy(): Promise<Occupancy> {
    return (await this.presence()).occupancy;
  }

  /**
   * Calls `listener` with each presence diff of the endpoint's channel (subscribing the connection,
   * now and after every reconnect, where the diffs missed meanwhile follow); returns the function
   * that stops it (the last one unsubscribes).
   */
  onPresence(listener: (diff: PresenceDiff) => void): () => void {
    return this.followPresence((update) => {
      if (update.kind === 'diff') listener(update.diff);
    });
  }

  /**
   * Follows the endpoint channel's presence: a snapshot, then each diff once and in order; after
   * a reconnect the diffs missed meanwhile, or a fresh snapshot when the server could not recover
   * them (docs/presence.md#for-clients). What `presenceStore` and `usePresence` are built on.
   */
  followPresence(listener: (update: PresenceUpdate) => void): () => void {
    return this.presenceFollower.follow(listener);
  }

  private receivePresence(frame: JsonObject & { type: string }): string | undefined {
    if (frame.type === 'presence') {
      this.replies.settle('presence', frame);
      return undefined;
    }
    if (frame.type === 'presence_resumed') {
      const answer = readPresenceResumed(frame);
      if (typeof answer === 'string') return answer;
      this.presenceFollower.resumed(answer);
      return undefined;
    }
    const diff = readPresenceDiff(frame);
    if (typeof diff === 'string') return diff;
    if (this.presenceFollower.diff(diff)) this.base.emit('presence_diff', diff);
    return undefined;
  }

  /** A `pong` frame: answers the oldest pending `ping()` and is emitted. */
  protected receivePong(frame: JsonObject): string | undefined {
    const timestamp = frame['timestamp'];
    if (typeof timestamp !== 'string') return 'timestamp must be a string';
    this.replies.settle('pong', frame);
    this.base.emit('pong', { timestamp });
    return undefined;
  }

  /** Sends a request and waits for its reply type; rejects at once when disconnected. */
  protected request(message: JsonObject, replyType: string): Promise<JsonObject> {
    if (!this.socket.isOpen) return Promise.reject(new Error(`${String(message['type'])}: not connected (state: ${this.state})`));
    const reply = this.replies.wait(replyType, this.requestTimeoutMs, String(message['type']));
    this.socket.send(message);
    return reply;
  }

  /**
   * Like `request`, for a read-only request the client's state depends on (`PendingReplies.owe`):
   * one cut by a closing connection is sent again once the next connection is usable, and one
   * already owed is shared instead of sent twice.
   */
  protected requestOwed(message: JsonObject, replyType: string): Promise<JsonObject> {
    if (!this.socket.isOpen && !this.replies.owes(replyType)) return Promise.reject(new Error(`${String(message['type'])}: not connected (state: ${this.state})`));
    return this.replies.owe(replyType, message, (frame) => this.socket.send(frame), this.requestTimeoutMs, String(message['type']));
  }

  private receive(data: unknown): void {
    const parsed = parseTypedFrame(data);
    const text = typeof data === 'string' ? data : '<binary>';
    if (!parsed.ok) return this.base.emit('error', new FrameError(`bad frame from the server: ${parsed.error}`, excerpt(text)));
    let problem: string | undefined;
    try {
      const { type } = parsed.value;
      problem =
        type === 'resumed' ? this.receiveResumed(parsed.value) : type === 'presence' || type === 'presence_diff' || type === 'presence_resumed' ? this.receivePresence(parsed.value) : this.handleFrame(parsed.value);
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err);
    }
    if (problem !== undefined) this.base.emit('error', new FrameError(`bad "${parsed.value.type}" frame: ${problem}`, excerpt(text)));
  }
}

