import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { bearerToken, verifyToken } from '../auth/jwt.js';
import type { GatewayContext } from '../context.js';
import { Reply } from '../http/respond.js';
import { nextConnectionId, type SocketData } from './connections.js';

export interface AdmissionOptions {
  /**
   * `upgrade` (default): a JWT from `?token=` or `Authorization` is checked here, and required
   * when AUTH_REQUIRED is set. `message`: the endpoint authenticates with its first message
   * (`/ws/logs`), so the upgrade carries no credential.
   */
  auth?: 'upgrade' | 'message';
}

/**
 * The gate every raw WebSocket upgrade passes: draining, connection cap, origin allow-list and
 * (optional or required) JWT. Refusals are plain HTTP answers with a JSON reason. Runs
 * synchronously, so `req` is still valid throughout.
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
  const { config, origins, metrics, connections } = ctx;
  const refuse = (status: number, reason: string, message: string) => {
    metrics.upgradesRefused.inc({ endpoint, reason });
    new Reply(res).json(status, { error: message }, true);
  };

  if (ctx.isDraining()) return refuse(503, 'draining', 'node is shutting down; reconnect to another node');
  if (connections.total >= config.maxConnections) return refuse(503, 'capacity', 'node is at MAX_CONNECTIONS; try again later');
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

  const data = { id: nextConnectionId(), endpoint, claims, closed: false, ...extra } as T;
  res.upgrade(
    data,
    req.getHeader('sec-websocket-key'),
    req.getHeader('sec-websocket-protocol'),
    req.getHeader('sec-websocket-extensions'),
    context,
  );
}
