import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';

/**
 * Origin policy shared by HTTP (CORS) and WebSocket upgrades. An empty allow-list means any
 * origin (development; refused in production by the config).
 */
export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(origins: string[]) {
    this.allowed = new Set(origins.map((o) => o.toLowerCase()));
  }

  get open(): boolean {
    return this.allowed.size === 0;
  }

  /**
   * Requests without an Origin header come from non-browser clients (servers, wscat, curl):
   * they cannot be driven by a hostile page, so they pass.
   */
  allows(origin: string): boolean {
    return origin === '' || this.open || this.allowed.has(origin.toLowerCase());
  }

  /** CORS response headers for an allowed browser origin. */
  corsHeaders(origin: string): [string, string][] {
    if (origin === '' || !this.allows(origin)) return [];
    return [
      ['access-control-allow-origin', this.open ? '*' : origin],
      ['vary', 'Origin'],
    ];
  }
}

export const PREFLIGHT_HEADERS: [string, string][] = [
  ['access-control-allow-methods', 'GET, POST, OPTIONS'],
  ['access-control-allow-headers', 'content-type, authorization, x-api-key, idempotency-key'],
  ['access-control-max-age', '600'],
];

type EngineMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: Error) => void) => void;

/**
 * CORS for Socket.IO's HTTP long-polling requests (with credentials, for sticky-session cookies),
 * by the same origin policy. In place of engine.io's `cors` option, which runs the middleware on
 * every request, WebSocket upgrades included, where browsers apply no CORS and the headers are
 * wasted work on the hottest path of a reconnect storm. It only adds headers: a forbidden origin
 * is refused by the server's `allowRequest`, on polling and WebSocket handshakes alike.
 */
export function pollingCors(policy: OriginPolicy): EngineMiddleware {
  const middleware = cors({
    origin: policy.open ? true : (origin, callback) => callback(null, policy.allows(origin ?? '')),
    credentials: true,
  });
  return (req, res, next) => {
    if (req.headers.upgrade !== undefined) return next();
    middleware(req, res, next);
  };
}
