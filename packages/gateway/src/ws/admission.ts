import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { bearerToken } from '../auth/bearer.js';
import { verifyToken } from '../auth/jwt.js';
import type { GatewayContext } from '../context.js';
import { connectionClientId } from '../presence/gateway-presence.js';
import { Reply } from '../http/respond.js';
import type { AddressRefusal } from './address-limits.js';
import { limitKey } from './client-address.js';
import { nextConnectionId, type SocketData } from './connections.js';

export interface AdmissionOptions {
  /**
   * `upgrade` (default): a JWT from `?token=` or `Authorization` is checked here, and required
   * when AUTH_REQUIRED is set. `message`: the endpoint authenticates with its first message
   * (`/ws/logs`), so the upgrade carries no credential.
   */
  auth?: 'upgrade' | 'message';
}

/** Per-address refusals are 429: the node has room, this client has used its share. */
const TOO_MANY_REQUESTS = 429;

/** The key the per-address limits count a request under (client address, IPv6 by /64). */
export function clientKey(ctx: GatewayContext, peer: string, forwardedFor: string): string {
  return limitKey(ctx.clientAddresses.resolve(peer, forwardedFor));
}

/**
 * The gate every raw WebSocket upgrade passes: draining, connection cap, origin allow-list,
 * (optional or required) JWT, then the per-address upgrade rate and connection cap. Refusals are
 * plain HTTP answers with a JSON reason. Everything needed from `req` is read first: the only
 * await is the per-user count, and after it the node-wide and per-address caps are checked again
 * right before the upgrade (which opens the socket synchronously), so concurrent upgrades cannot
 * overshoot them.
 */
export function admitUpgrade<T extends SocketData>(
  ctx: GatewayContext,
  endpoint: string,
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  extra: Omit<T, keyof SocketData>,
  { auth = 'upgrade' }: AdmissionOptions = {},
): void {
  const { config, origins, metrics, connections, addressLimits } = ctx;
  const reply = new Reply(res);
  const refuse = (status: number, reason: string, message: string, retryAfterS?: number) => {
    metrics.upgradesRefused.inc({ endpoint, reason });
    if (retryAfterS !== undefined) reply.headers.push(['retry-after', String(retryAfterS)]);
    reply.json(status, { error: message }, true);
  };
  const nodeRefusal = (): [number, string, string] | undefined => {
    if (ctx.isDraining()) return [503, 'draining', 'node is shutting down; reconnect to another node'];
    if (connections.total >= config.maxConnections) return [503, 'capacity', 'node is at MAX_CONNECTIONS; try again later'];
    return undefined;
  };

  const early = nodeRefusal();
  if (early) return refuse(...early);
  if (!origins.allows(req.getHeader('origin'))) return refuse(403, 'origin', 'origin not allowed');

  const token = auth === 'message' ? '' : req.getQuery('token') || bearerToken(req.getHeader('authorization')) || '';
  let claims: Record<string, unknown> | undefined;
  if (token !== '') {
    if (config.jwt === undefined) return refuse(401, 'auth', 'Authentication failed');
    const verified = verifyToken(token, config.jwt);
    if (!verified.ok) return refuse(401, 'auth', 'Authentication failed');
    claims = verified.claims;
  } else if (config.authRequired && auth === 'upgrade') {
    return refuse(401, 'auth', 'Authentication required');
  }

  const address = clientKey(ctx, Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'));
  const presenceId = connectionClientId(req.getQuery('clientId') || '');
  const handshake = [req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions')] as const;
  const refuseForAddress = (refusal: AddressRefusal) => refuse(TOO_MANY_REQUESTS, refusal.reason, refusal.message, refusal.retryAfterS);

  // The address's upgrade rate is decided at once (a token bucket, no await).
  const rateRefusal = addressLimits.spendUpgrade(address);
  if (rateRefusal) return refuseForAddress(rateRefusal);

  const admit = () => {
    const late = nodeRefusal();
    if (late) return refuse(...late);
    const capRefusal = addressLimits.capacityFor(address);
    if (capRefusal) return refuseForAddress(capRefusal);
    const data = { id: nextConnectionId(), endpoint, address, claims, closed: false, presenceId, ...extra } as T;
    res.cork(() => res.upgrade(data, ...handshake, context));
  };

  // MAX_CONNECTIONS_PER_USER, counted across the cluster through presence (see presence/): the
  // only wait on the way, taken only for authenticated users when that limit is set.
  const sub = claims?.['sub'];
  if (!(config.maxConnectionsPerUser > 0) || typeof sub !== 'string') return admit();
  ctx.presence.userLimitRefusal(sub, presenceId).then(
    (userRefusal) => {
      if (!reply.open) return; // the client went away while waiting
      if (userRefusal !== undefined) return refuse(TOO_MANY_REQUESTS, 'user_limit', userRefusal);
      admit();
    },
    (err: unknown) => {
      ctx.logger.error({ err, endpoint }, 'upgrade admission failed');
      if (reply.open) refuse(503, 'error', 'upgrade failed; try again');
    },
  );
}

type EngineMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: Error) => void) => void;

/** What engine.io's uWS server gives a middleware and keeps on each session's request. */
interface EngineRequest {
  _query?: Record<string, string | undefined>;
  connection?: { remoteAddress?: string };
  headers: Record<string, string | string[] | undefined>;
}

const forwardedFor = (req: EngineRequest): string => {
  const value = req.headers['x-forwarded-for'];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
};

/**
 * The per-address limits for Socket.IO: an engine.io middleware refuses a new session (a
 * handshake: no `sid` yet) over the address's upgrade rate or connection cap with a 429, and
 * every session counts towards its address until it closes. Sessions are counted once engine.io
 * opens them, so handshakes still in flight at the same moment may overshoot the cap by a few;
 * the upgrade rate bounds that.
 */
export function guardSocketIoAddresses(
  ctx: GatewayContext,
  engine: { use(middleware: EngineMiddleware): void; on(event: 'connection', listener: (socket: { request: unknown; once(event: 'close', listener: () => void): void }) => void): void },
): void {
  const { addressLimits, metrics } = ctx;
  const keyOf = (req: EngineRequest) => clientKey(ctx, req.connection?.remoteAddress ?? '', forwardedFor(req));

  engine.use((incoming, res, next) => {
    const req = incoming as unknown as EngineRequest;
    if (req._query?.['sid'] !== undefined) return next(); // an existing session's request
    const key = keyOf(req);
    const refuse = (refusal: AddressRefusal) => {
      metrics.upgradesRefused.inc({ endpoint: 'socket.io', reason: refusal.reason });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
      if (refusal.retryAfterS !== undefined) headers['retry-after'] = String(refusal.retryAfterS);
      res.writeHead(TOO_MANY_REQUESTS, headers);
      res.end(JSON.stringify({ error: refusal.message }));
    };
    const refusal = addressLimits.spendUpgrade(key) ?? addressLimits.capacityFor(key);
    if (refusal) refuse(refusal);
    else next();
  });

  engine.on('connection', (socket) => {
    const key = keyOf(socket.request as EngineRequest);
    addressLimits.opened(key);
    socket.once('close', () => addressLimits.closed(key));
  });
}
