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
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export const statusLine = (status: number): string => STATUS_TEXT[status] ?? `${status} Unknown`;

/**
 * Tracks whether a response may still be written. uWS invalidates a response once it is
 * aborted or ended; writing to it afterwards crashes the process.
 */
export class Reply {
  private done = false;
  private readonly abortListeners: (() => void)[] = [];
  /** Extra headers every answer carries (CORS). */
  readonly headers: [string, string][] = [];

  /** `headOnly`: answering a HEAD request: the same status and headers, and no body. */
  constructor(
    readonly res: HttpResponse,
    private readonly headOnly = false,
  ) {
    // uWS keeps one abort handler per response: fan it out to whoever needs to know.
    res.onAborted(() => {
      this.done = true;
      for (const listener of this.abortListeners) listener();
    });
  }

  onAbort(listener: () => void): void {
    this.abortListeners.push(listener);
  }

  get open(): boolean {
    return !this.done;
  }

  /**
   * Writes a complete answer. Corked, so it is safe after an await; a no-op once the client is
   * gone. `close` ends the connection too (the request body may still be streaming in).
   */
  send(status: number, body: string, contentType = 'application/json', close = false): void {
    if (this.done) return;
    this.done = true;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      this.res.writeHeader('content-type', contentType);
      this.res.writeHeader('cache-control', 'no-store');
      for (const [name, value] of this.headers) this.res.writeHeader(name, value);
      if (this.headOnly) this.res.endWithoutBody(Buffer.byteLength(body), close);
      else this.res.end(body, close);
    });
  }

  json(status: number, value: unknown, close = false): void {
    this.send(status, JSON.stringify(value), 'application/json', close);
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
