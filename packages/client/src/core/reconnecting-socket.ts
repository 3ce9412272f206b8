import { DEFAULT_BACKOFF, backoffDelay, restartDelay, retryAfterDelay, type BackoffOptions, type Random } from './backoff.js';
import { Emitter } from './emitter.js';
import { AuthError } from './errors.js';
import { RefusedToken } from './refused-token.js';
import { isAuthRefusal, onUpgradeRefused, resolveWebSocket, WS_OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Supplies the token for each (re)connect; may refresh it. */
export type TokenProvider = () => string | undefined | Promise<string | undefined>;

/** RFC 6455 close codes the client acts on. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_SERVICE_RESTART = 1012;

export interface ReconnectingSocketOptions {
  /** Builds the URL for a connection attempt from the current token. */
  url: (token: string | undefined) => string;
  WebSocket?: WebSocketConstructor | undefined;
  token?: string | undefined;
  getToken?: TokenProvider | undefined;
  /** `false`: never reconnect. */
  reconnect?: Partial<BackoffOptions> | false | undefined;
  /** An attempt that has not opened by then is abandoned and retried. */
  connectTimeoutMs?: number | undefined;
  /**
   * When the endpoint authenticates with a message (`/ws/logs`), the owner calls `ready()` once
   * the server accepted it; until then the state stays connecting/reconnecting.
   */
  readyOnOpen?: boolean | undefined;
  /** Sends this frame every `intervalMs` while connected (servers that close idle clients). */
  keepAlive?: { intervalMs: number; frame: string } | undefined;
  random?: Random | undefined;
}

export interface SocketEvents {
  [event: string]: unknown;
  state: ConnectionState;
  /** The transport opened; `token` is the one used for this connection. */
  open: { token: string | undefined };
  /** A text (or other) message as the implementation delivered it. */
  message: unknown;
  /** The connection ended; `reconnectInMs` is undefined when no reconnect follows. */
  disconnect: { code: number; reason: string; reconnectInMs: number | undefined };
  error: Error;
}

/**
 * One WebSocket endpoint kept connected: exponential backoff with full jitter and a cap,
 * a quick jittered reconnect when the server announces a restart (1012), the server's
 * `Retry-After` (plus jitter) when it turned an upgrade away with one, no reconnect loop on
 * refused credentials, a fresh token from `getToken()` on every attempt, and a `close()` that
 * leaves no timers behind. Knows nothing about frames: the endpoint clients parse them.
 */
export class ReconnectingSocket extends Emitter<SocketEvents> {
  private readonly Impl: WebSocketConstructor;
  private readonly backoff: BackoffOptions;
  private readonly random: Random;
  private ws: WebSocketLike | undefined;
  private currentState: ConnectionState = 'closed';
  private attempt = 0;
  private everReady = false;
  private readySince: number | undefined;
  private stopped = true;
  private usedToken: string | undefined;
  private readonly refusedToken: RefusedToken;
  /** Set when the current connection was refused for its credentials. */
  private authFailure: string | undefined;
  /** Seconds the server asked the current attempt to wait (`Retry-After` on its refusal). */
  private retryAfterS: number | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: ReconnectingSocketOptions) {
    super();
    this.Impl = resolveWebSocket(options.WebSocket);
    this.backoff = { ...DEFAULT_BACKOFF, ...(options.reconnect === false ? {} : options.reconnect) };
    this.random = options.random ?? Math.random;
    this.refusedToken = new RefusedToken(options);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Whether frames can be sent now. */
  get isOpen(): boolean {
    return this.ws?.readyState === WS_OPEN;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  /** Sends a JSON message; false when not connected (nothing is queued). */
  send(message: unknown): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(JSON.stringify(message));
      return true;
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  /** For `readyOnOpen` endpoints: the server accepted the connection's authentication. */
  ready(): void {
    if (this.ws === undefined || this.stopped) return;
    this.markReady();
  }

  /** The server refused this connection's credentials in-band (e.g. `auth_error`). */
  failAuth(message: string): void {
    const ws = this.ws;
    if (ws === undefined) return;
    this.authFailure = message;
    ws.close(CLOSE_NORMAL, 'authentication refused');
  }

  /** Stops for good: closes the connection, cancels every timer. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = undefined;
    if (ws !== undefined) {
      detach(ws);
      try {
        ws.close(CLOSE_NORMAL, 'client closed');
      } catch {
        // already closing
      }
    }
    this.setState('closed');
  }

  private async connect(): Promise<void> {
    this.setState(this.everReady ? 'reconnecting' : 'connecting');
    let token: string | undefined;
    try {
      token = this.options.getToken !== undefined ? await this.options.getToken() : this.options.token;
    } catch (err) {
      if (this.stopped) return;
      this.emit('error', new AuthError(`getToken() failed: ${err instanceof Error ? err.message : String(err)}`));
      return this.scheduleReconnect(backoffDelay(this.attempt++, this.backoff, this.random));
    }
    if (this.stopped) return;
    const sameToken = this.refusedToken.check(token);
    if (sameToken !== undefined) {
      this.emit('error', sameToken);
      return this.stop();
    }
    this.usedToken = token;
    this.authFailure = undefined;
    this.retryAfterS = undefined;

    let ws: WebSocketLike;
    try {
      ws = new this.Impl(this.options.url(token));
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      return this.stop();
    }
    this.ws = ws;
    onUpgradeRefused(ws, ({ status, retryAfterS }) => {
      if (this.ws !== ws) return;
      if (status === 401 || status === 403) this.authFailure = 'Authentication failed (HTTP 401/403 at the upgrade)';
      this.retryAfterS = retryAfterS;
    });
    this.connectTimer = setTimeout(() => {
      if (this.ws !== ws || ws.readyState === WS_OPEN) return;
      this.abandon(ws, 4000, 'connect timeout');
    }, this.options.connectTimeoutMs ?? 15_000);

    ws.onopen = () => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      if (!this.options.readyOnOpen) this.markReady();
      this.emit('open', { token });
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.ws === ws) this.emit('message', event.data);
    };
    ws.onerror = (event: unknown) => {
      if (this.ws === ws && isAuthRefusal(event)) this.authFailure = 'Authentication failed (HTTP 401/403 at the upgrade)';
    };
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (this.ws === ws) this.handleClose(event.code ?? 1006, event.reason ?? '');
    };
  }

  /** Gives up on an attempt that hangs, as if it had closed. */
  private abandon(ws: WebSocketLike, code: number, reason: string): void {
    detach(ws);
    try {
      ws.close();
    } catch {
      // not open yet: some implementations throw
    }
    this.handleClose(code, reason);
  }

  private handleClose(code: number, reason: string): void {
    this.ws = undefined;
    this.clearTimers();
    if (this.stopped) return;
    if (this.readySince !== undefined && Date.now() - this.readySince >= this.backoff.stableAfterMs) this.attempt = 0;
    this.readySince = undefined;

    const authFailure = this.authFailure ?? (code === CLOSE_POLICY_VIOLATION ? `closed by the server: ${reason || 'policy violation'} (1008)` : undefined);
    let delay: number | undefined;
    if (authFailure !== undefined) {
      this.emit('error', new AuthError(authFailure));
      if (this.refusedToken.retryable) {
        this.refusedToken.refuse(this.usedToken);
        delay = backoffDelay(this.attempt++, this.backoff, this.random);
      }
    } else if (this.options.reconnect !== false) {
      if (code === CLOSE_SERVICE_RESTART) delay = restartDelay(this.backoff, this.random);
      else if (this.retryAfterS !== undefined) delay = retryAfterDelay(this.retryAfterS, this.backoff, this.random, this.attempt++);
      else delay = backoffDelay(this.attempt++, this.backoff, this.random);
    }
    this.emit('disconnect', { code, reason, reconnectInMs: delay });
    if (delay === undefined) return this.stop();
    this.scheduleReconnect(delay);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.stopped) return;
    this.setState(this.everReady ? 'reconnecting' : 'connecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delayMs);
  }

  private markReady(): void {
    this.everReady = true;
    this.readySince = Date.now();
    this.refusedToken.accepted();
    this.startKeepAlive();
    this.setState('open');
  }

  private startKeepAlive(): void {
    const keepAlive = this.options.keepAlive;
    if (keepAlive === undefined || keepAlive.intervalMs <= 0 || this.keepAliveTimer !== undefined) return;
    this.keepAliveTimer = setInterval(() => {
      const ws = this.ws;
      if (ws?.readyState === WS_OPEN) ws.send(keepAlive.frame);
    }, keepAlive.intervalMs);
  }

  /** Ends without reconnecting (refused credentials, reconnect disabled). */
  private stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.setState('closed');
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.connectTimer);
    clearInterval(this.keepAliveTimer);
    this.reconnectTimer = undefined;
    this.connectTimer = undefined;
    this.keepAliveTimer = undefined;
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }
}

/**
 * Stops a socket's events from reaching us. Handlers become no-ops rather than null: the `ws`
 * package rethrows an `error` event that has no listener.
 */
function detach(ws: WebSocketLike): void {
  const ignore = () => undefined;
  ws.onopen = ignore;
  ws.onmessage = ignore;
  ws.onclose = ignore;
  ws.onerror = ignore;
}
