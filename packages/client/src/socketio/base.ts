import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { DEFAULT_BACKOFF, backoffDelay, parseRetryAfter, type BackoffOptions } from '../core/backoff.js';
import type { Emitter } from '../core/emitter.js';
import { PresenceFollower, readPresenceDiff, readPresenceResumed, readPresenceSnapshot, type Occupancy, type PresenceDiff, type PresencePosition, type PresenceSnapshot, type PresenceUpdate } from '../core/presence.js';
import { TypedEvents } from '../core/typed-events.js';
import { AuthError, ClientClosedError, FrameError, RequestRejectedError, RequestTimeoutError } from '../core/errors.js';
import { excerpt, isObject, isString } from '../core/guards.js';
import type { ConnectionState, TokenProvider } from '../core/reconnecting-socket.js';
import { RefusedToken } from '../core/refused-token.js';

export interface SocketIoClientOptions {
  /** The gateway or load balancer, e.g. `https://rt.example.com`. */
  url: string;
  /** A JWT, sent as `handshake.auth.token`. */
  token?: string;
  /** Called before every (re)connect for a current JWT; takes precedence over `token`. */
  getToken?: TokenProvider;
  /** Reconnection delays (Socket.IO's own backoff), or `false` to never reconnect. */
  reconnect?: Partial<Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>> | false;
  /** Deadline for acknowledgements, ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Passed through to `io()` (e.g. `transports: ['websocket']`). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  autoConnect?: boolean;
}

export type SocketIoBaseEvents = {
  state: ConnectionState;
  /** Connected; after a reconnect without recovery, the rooms this client had joined are being joined again. */
  open: undefined;
  /**
   * A reconnect's outcome. Recovered (the server's connection state recovery, within its window):
   * rooms are back and the missed events follow, in order. Not recovered: rooms are joined again,
   * and events sent while disconnected are lost.
   */
  resumed: { recovered: boolean };
  disconnect: { reason: string };
  error: Error;
};

/** What the server says in `connect_error` when the middleware refuses the credentials (docs/protocol-socketio.md). */
const AUTH_REFUSALS = new Set(['Authentication required', 'Authentication failed']);

/**
 * What the Socket.IO clients share: the socket, auth with a refreshable token, connection
 * state, acknowledged requests with deadlines, and room subscriptions replayed after every
 * reconnect (rooms belong to the connection on the server).
 */
export abstract class SocketIoClient<Events extends SocketIoBaseEvents> extends TypedEvents<Events> {
  /** The underlying socket, for events this SDK does not wrap. */
  readonly socket: Socket;
  protected readonly requestTimeoutMs: number;
  /** Subscribe event → arguments currently subscribed. */
  private readonly subscriptions = new Map<string, Set<string>>();
  private currentState: ConnectionState = 'closed';
  private everConnected = false;
  private usedToken: string | undefined;
  /** A token fetched (and checked) before an auth retry, used by the next handshake. */
  private prefetched: { token: string | undefined } | undefined;
  private readonly refusedToken: RefusedToken;
  /** Socket.IO's own reconnection delays while a `Retry-After` has raised them. */
  private configuredDelays: { min: number; max: number; randomization: number } | undefined;
  private authRetries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Presence of each channel followed: subscribed again, resuming, after every (re)connect. */
  private readonly presenceFollowers = new Map<string, PresenceFollower>();

  protected constructor(private readonly options: SocketIoClientOptions) {
    super();
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.refusedToken = new RefusedToken(options);
    const reconnect = options.reconnect === false ? undefined : { ...DEFAULT_BACKOFF, ...options.reconnect };
    this.socket = io(options.url, {
      forceNew: true,
      withCredentials: true, // Node: keep the load balancer's affinity cookie
      autoConnect: false,
      reconnection: reconnect !== undefined,
      // Socket.IO's backoff made the raw clients' one: min × 2^n ± 100 % is uniform in [0, initial × 2^n).
      ...(reconnect !== undefined ? { reconnectionDelay: reconnect.initialDelayMs / 2, randomizationFactor: 1, reconnectionDelayMax: reconnect.maxDelayMs } : {}),
      ...options.socketOptions,
      auth: (cb) => {
        this.currentToken().then(
          (token) => cb(token !== undefined && token !== '' ? { token } : {}),
          (err: unknown) => {
            this.report(new AuthError(`getToken() failed: ${err instanceof Error ? err.message : String(err)}`));
            cb({});
          },
        );
      },
    });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('presence:diff', (payload: unknown) => {
      const diff = readPresenceDiff(payload);
      if (typeof diff === 'string') this.reportBadPayload('presence:diff', diff, payload);
      else this.presenceFollowers.get(diff.channel)?.diff(diff);
    });
    this.socket.on('disconnect', (reason) => {
      this.setState(this.socket.active ? 'reconnecting' : 'closed');
      this.base.emit('disconnect', { reason });
    });
    this.socket.on('connect_error', (err) => this.onConnectError(err));
    this.socket.io.on('reconnect_attempt', () => this.setState(this.everConnected ? 'reconnecting' : 'connecting'));
    if (options.autoConnect !== false) this.connect();
  }

  private get base(): Emitter<SocketIoBaseEvents> {
    return this.events<SocketIoBaseEvents>();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  connect(): void {
    if (this.closed || this.socket.connected) return;
    this.setState(this.everConnected ? 'reconnecting' : 'connecting');
    this.socket.connect();
  }

  /** Disconnects for good and cancels every timer. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
    this.setState('closed');
  }

  protected report(err: Error): void {
    this.base.emit('error', err);
  }

  /** Reports a payload that does not fit the protocol (never throws out of the socket callback). */
  protected reportBadPayload(event: string, problem: string, payload: unknown): void {
    let text: string;
    try {
      text = JSON.stringify(payload) ?? String(payload);
    } catch {
      text = String(payload);
    }
    this.report(new FrameError(`bad "${event}" payload: ${problem}`, excerpt(text)));
  }

  /** Listens to a server event with a validator; bad payloads become `error` events. */
  protected listen<T>(event: string, read: (payload: unknown) => T | string, deliver: (value: T) => void): void {
    this.socket.on(event, (payload: unknown) => {
      const value = read(payload);
      if (typeof value === 'string') this.reportBadPayload(event, value, payload);
      else deliver(value);
    });
  }

  /**
   * Emits `event` with `arg` and waits for `{ok:true}`; `{ok:false,error}` rejects with
   * RequestRejectedError, no answer in time with RequestTimeoutError.
   */
  protected async request(event: string, arg: string): Promise<void> {
    if (this.closed) throw new ClientClosedError(`${event}: client closed`);
    let answer: unknown;
    try {
      answer = await this.socket.timeout(this.requestTimeoutMs).emitWithAck(event, arg);
    } catch {
      throw new RequestTimeoutError(`${event} ${JSON.stringify(arg)}`, this.requestTimeoutMs);
    }
    if (isObject(answer) && answer['ok'] === true) return;
    throw new RequestRejectedError(event, isObject(answer) && isString(answer['error']) ? answer['error'] : 'malformed acknowledgement');
  }

  /**
   * Who is connected to `channel` (`errors`, every connection; or `jobs:<jobId>`): the first 100
   * members (`truncated` when there are more) and the occupancy.
   */
  async presence(channel = 'errors'): Promise<PresenceSnapshot> {
    if (this.closed) throw new ClientClosedError('presence:get: client closed');
    let answer: unknown;
    try {
      answer = await this.socket.timeout(this.requestTimeoutMs).emitWithAck('presence:get', channel);
    } catch {
      throw new RequestTimeoutError(`presence:get ${JSON.stringify(channel)}`, this.requestTimeoutMs);
    }
    if (isObject(answer) && answer['ok'] === false) throw new RequestRejectedError('presence:get', isString(answer['error']) ? answer['error'] : 'refused');
    const snapshot = readPresenceSnapshot(answer);
    if (typeof snapshot === 'string') throw new FrameError(`bad "presence:get" answer: ${snapshot}`, '');
    return snapshot;
  }

  /** How many are connected to `channel`. */
  async occupancy(channel = 'errors'): Promise<Occupancy> {
    return (await this.presence(channel)).occupancy;
  }

  /**
   * Calls `listener` with each presence diff of `channel` (subscribing now and after every
   * reconnect, where the diffs missed meanwhile follow); returns the function that stops it (the
   * channel's last one unsubscribes).
   */
  onPresence(listener: (diff: PresenceDiff) => void, channel = 'errors'): () => void {
    return this.followPresence((update) => {
      if (update.kind === 'diff') listener(update.diff);
    }, channel);
  }

  /**
   * Follows `channel`'s presence: a snapshot, then each diff once and in order; after a
   * reconnect the diffs missed meanwhile, or a fresh snapshot when the server could not recover
   * them (docs/presence.md#for-clients). What `presenceStore` is built on.
   */
  followPresence(listener: (update: PresenceUpdate) => void, channel = 'errors'): () => void {
    let follower = this.presenceFollowers.get(channel);
    if (follower === undefined) {
      const created: PresenceFollower = new PresenceFollower(
        {
          snapshot: () => this.presence(channel),
          subscribe: (position) => this.subscribePresence(channel, position, created),
          unsubscribe: () => {
            if (this.presenceFollowers.get(channel) === created) this.presenceFollowers.delete(channel);
            this.request('presence:unsubscribe', channel).catch((err: unknown) => this.report(err instanceof Error ? err : new Error(String(err))));
          },
        },
        () => this.socket.connected,
      );
      this.presenceFollowers.set(channel, (follower = created));
    }
    return follower.follow(listener);
  }

  /**
   * `presence:subscribe`, with the position to resume from. The ack is handled as the packet
   * arrives (not a promise): the diffs that follow it must find the follower already answered.
   */
  private subscribePresence(channel: string, position: PresencePosition | undefined, follower: PresenceFollower): void {
    const args: unknown[] = position === undefined ? [channel] : [channel, { epoch: position.epoch, since: position.offset }];
    this.socket.timeout(this.requestTimeoutMs).emit('presence:subscribe', ...args, (err: Error | null, answer: unknown) => {
      if (err !== null) return this.report(new RequestTimeoutError(`presence:subscribe ${JSON.stringify(channel)}`, this.requestTimeoutMs));
      if (!isObject(answer) || answer['ok'] !== true) {
        return this.report(new RequestRejectedError('presence:subscribe', isObject(answer) && isString(answer['error']) ? answer['error'] : 'malformed acknowledgement'));
      }
      if (answer['type'] !== 'presence_resumed') return;
      const resumed = readPresenceResumed(answer);
      if (typeof resumed === 'string') return this.reportBadPayload('presence:subscribe', resumed, answer);
      follower.resumed(resumed);
    });
  }

  /** Joins a room through `event` and remembers it for reconnects (forgotten if refused). */
  protected async subscribeTo(event: string, arg: string): Promise<void> {
    const set = this.subscriptions.get(event) ?? new Set<string>();
    this.subscriptions.set(event, set);
    set.add(arg);
    try {
      await this.request(event, arg);
    } catch (err) {
      if (err instanceof RequestRejectedError) set.delete(arg);
      throw err;
    }
  }

  protected async unsubscribeFrom(subscribeEvent: string, unsubscribeEvent: string, arg: string): Promise<void> {
    this.subscriptions.get(subscribeEvent)?.delete(arg);
    await this.request(unsubscribeEvent, arg);
  }

  private onConnect(): void {
    const reconnected = this.everConnected;
    // The server restored this connection's session: its rooms, and the packets it missed.
    const recovered = reconnected && this.socket.recovered === true;
    this.everConnected = true;
    this.authRetries = 0;
    this.refusedToken.accepted();
    this.setState('open');
    // On the first connect, subscriptions made before it are buffered by Socket.IO and sent now.
    if (reconnected && !recovered) {
      for (const [event, args] of this.subscriptions) {
        for (const arg of args) {
          this.request(event, arg).catch((err: unknown) => {
            if (err instanceof RequestRejectedError) args.delete(arg);
            this.report(new Error(`re-subscribing after reconnect: ${err instanceof Error ? err.message : String(err)}`));
          });
        }
      }
    }
    // Presence subscriptions belong to the connection on the server, recovered or not.
    for (const follower of this.presenceFollowers.values()) follower.opened();
    this.base.emit('open', undefined);
    if (reconnected) this.base.emit('resumed', { recovered });
  }

  private onConnectError(err: Error): void {
    if (this.socket.active) {
      // A transport problem (or a 429 from the handshake's per-address limit): Socket.IO retries by itself.
      this.waitRetryAfter(err);
      this.setState(this.everConnected ? 'reconnecting' : 'connecting');
      return;
    }
    // Refused by the server's middleware: Socket.IO does not retry these.
    this.report(AUTH_REFUSALS.has(err.message) ? new AuthError(err.message) : err);
    if (!this.refusedToken.retryable || this.closed || !AUTH_REFUSALS.has(err.message)) return this.setState('closed');
    this.refusedToken.refuse(this.usedToken);
    this.setState(this.everConnected ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.authRetries++, { ...DEFAULT_BACKOFF, ...(this.options.reconnect || {}) });
    this.retryTimer = setTimeout(() => void this.retryWithFreshToken(), delay);
  }

  /**
   * When the handshake was turned away with `Retry-After` (seen on the polling transport, whose
   * request exposes the answer's headers), Socket.IO's next delay starts from that many seconds
   * with ±50 % randomization (from one to three times it once an attempt failed, which is when
   * this happens). The configured backoff comes back once it reconnects.
   */
  private waitRetryAfter(err: Error): void {
    const retryAfterS = retryAfterOf(err);
    if (retryAfterS === undefined) return;
    const manager = this.socket.io;
    const configured = (this.configuredDelays ??= {
      min: manager.reconnectionDelay(),
      max: manager.reconnectionDelayMax(),
      randomization: manager.randomizationFactor(),
    });
    const asked = retryAfterS * 1000;
    manager.reconnectionDelay(Math.max(configured.min, asked));
    manager.reconnectionDelayMax(Math.max(configured.max, asked * 3));
    manager.randomizationFactor(0.5);
    manager.once('reconnect', () => {
      if (this.configuredDelays === undefined) return;
      manager.reconnectionDelay(this.configuredDelays.min);
      manager.reconnectionDelayMax(this.configuredDelays.max);
      manager.randomizationFactor(this.configuredDelays.randomization);
      this.configuredDelays = undefined;
    });
  }

  /** After refused credentials: reconnect only if getToken() now yields a different token. */
  private async retryWithFreshToken(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.options.getToken?.();
    } catch (err) {
      this.report(new AuthError(`getToken() failed: ${err instanceof Error ? err.message : String(err)}`));
      return this.close();
    }
    if (this.closed) return;
    const sameToken = this.refusedToken.check(token);
    if (sameToken !== undefined) {
      this.report(sameToken);
      return this.close();
    }
    this.prefetched = { token };
    this.socket.connect();
  }

  private async currentToken(): Promise<string | undefined> {
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    const token = prefetched !== undefined ? prefetched.token : this.options.getToken !== undefined ? await this.options.getToken() : this.options.token;
    this.usedToken = token;
    return token;
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState || (this.closed && state !== 'closed')) return;
    this.currentState = state;
    this.base.emit('state', state);
  }
}

/**
 * The `Retry-After` of a handshake the server answered with 429 or 503 on the polling transport
 * (engine.io's transport error carries the status as `description`, the request as `context`).
 * Never throws: a failed request's object may not answer header questions at all.
 */
function retryAfterOf(err: Error): number | undefined {
  const { description, context } = err as { description?: unknown; context?: { getResponseHeader?: (name: string) => string | null } };
  if (description !== 429 && description !== 503) return undefined;
  try {
    return typeof context?.getResponseHeader === 'function' ? parseRetryAfter(context.getResponseHeader('retry-after')) : undefined;
  } catch {
    return undefined;
  }
}
