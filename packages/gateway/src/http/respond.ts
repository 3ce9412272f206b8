import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export const statusLine = (status: number): string => STATUS_TEXT[status] ?? `${status} Unknown`;

/**
 * Lingering close, as nginx does it: a refusal sent while the request body is still arriving
 * (401, 413, ...) waits until the body has been read and discarded, so the client, still
 * writing, is not cut off by a reset before it reads the answer. Bounded: past this many bytes or
 * this long, the answer goes out and the connection closes anyway.
 */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;
export const LINGER_MAX_MS = 30_000;

/**
 * Tracks whether a response may still be written. uWS invalidates a response once it is
 * aborted or ended; writing to it afterwards crashes the process. Construct it synchronously in
 * the route handler: it watches the request body from the start (uWS drops body bytes that
 * arrive while nobody listens, and delivers an empty last chunk for bodiless requests).
 */
export class Reply {
  private answered = false;
  private aborted = false;
  private bodyComplete = false;
  private bodyConsumer: ((chunk: ArrayBuffer, isLast: boolean) => void) | undefined;
  /** Set while a refusal waits for the rest of the body: bytes discarded so far, and the deadline. */
  private linger: { discarded: number; timer: NodeJS.Timeout; write: () => void } | undefined;
  private readonly abortListeners: (() => void)[] = [];
  /** The client sent `Expect: 100-continue`: it waits for an answer before sending the body. */
  private readonly expectsContinue: boolean;
  /** Extra headers every answer carries (CORS). */
  readonly headers: [string, string][] = [];

  /**
   * `headOnly`: answering a HEAD request: the same status and headers, and no body. `req`, when
   * the request may carry a body, lets a refusal skip the lingering for `Expect: 100-continue`.
   */
  constructor(
    readonly res: HttpResponse,
    private readonly headOnly = false,
    req?: HttpRequest,
  ) {
    this.expectsContinue = req !== undefined && req.getHeader('expect').toLowerCase() === '100-continue';
    // uWS keeps one abort handler per response: fan it out to whoever needs to know.
    res.onAborted(() => {
      this.aborted = true;
      if (this.linger) clearTimeout(this.linger.timer);
      this.linger = undefined;
      for (const listener of this.abortListeners) listener();
    });
    res.onData((chunk, isLast) => {
      if (isLast) this.bodyComplete = true;
      if (this.linger) this.discard(chunk.byteLength, isLast);
      else this.bodyConsumer?.(chunk, isLast);
    });
  }

  onAbort(listener: () => void): void {
    this.abortListeners.push(listener);
  }

  /**
   * Receives the request body's chunks (each valid only during the call). Set it synchronously
   * in the route handler: chunks that arrive before are dropped.
   */
  onBody(consumer: (chunk: ArrayBuffer, isLast: boolean) => void): void {
    this.bodyConsumer = consumer;
  }

  get open(): boolean {
    return !this.answered && !this.aborted;
  }

  /**
   * Writes a complete answer. Corked, so it is safe after an await; a no-op once the client is
   * gone or answered. `close` ends the connection too; while the request body is still arriving,
   * the answer lingers until it is read (see LINGER_MAX_BYTES) so the client gets to read it.
   */
  send(status: number, body: string, contentType = 'application/json', close = false): void {
    if (!this.open) return;
    this.answered = true;
    const write = (): void => {
      this.res.cork(() => {
        this.res.writeStatus(statusLine(status));
        this.res.writeHeader('content-type', contentType);
        this.res.writeHeader('cache-control', 'no-store');
        for (const [name, value] of this.headers) this.res.writeHeader(name, value);
        if (this.headOnly) this.res.endWithoutBody(Buffer.byteLength(body), close);
        else this.res.end(body, close);
      });
    };
    // A client expecting 100-continue sends nothing until it reads an answer: refuse at once.
    if (!close || this.bodyComplete || this.expectsContinue) {
      write();
      return;
    }
    this.linger = { discarded: 0, timer: setTimeout(() => this.endLinger(), LINGER_MAX_MS), write };
  }

  json(status: number, value: unknown, close = false): void {
    this.send(status, JSON.stringify(value), 'application/json', close);
  }

  private discard(bytes: number, isLast: boolean): void {
    if (!this.linger) return;
    this.linger.discarded += bytes;
    if (isLast || this.linger.discarded > LINGER_MAX_BYTES) this.endLinger();
  }

  private endLinger(): void {
    const linger = this.linger;
    this.linger = undefined;
    if (!linger || this.aborted) return;
    clearTimeout(linger.timer);
    linger.write();
  }
}

/**
 * A GET route that answers HEAD too, with the same status and headers and no body: uWS routes
 * HEAD separately, and probes and load balancers use it.
 */
export function getAndHead(app: TemplatedApp, pattern: string, handler: (reply: Reply, req: HttpRequest) => void): void {
  app.get(pattern, (res, req) => handler(new Reply(res), req));
  app.head(pattern, (res, req) => handler(new Reply(res, true), req));
}
