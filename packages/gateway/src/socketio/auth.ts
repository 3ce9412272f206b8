import type { Socket } from 'socket.io';
import { roleRoom, userRoom } from '@switchboard/protocol';
import { verifyToken, type Claims } from '../auth/jwt.js';
import type { GatewayContext } from '../context.js';

/** What a connected socket carries in `socket.data`. */
export interface SocketIoData {
  /** Verified claims, absent for anonymous sockets (read-only error feed). */
  user?: Claims & { sub: string };
  roles: string[];
}

export const rolesOf = (claims: Claims): string[] => {
  const listed: unknown = claims['roles'];
  const roles: unknown[] = [claims['role'], ...(Array.isArray(listed) ? (listed as unknown[]) : [])];
  return roles.filter((r): r is string => typeof r === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(r));
};

/**
 * Connection middleware: `handshake.auth.token` carries a JWT. Missing when required →
 * `Authentication required`; invalid or expired → `Authentication failed` (docs/protocol-socketio.md).
 * Authenticated sockets join `user:<sub>` and their `role:<role>` rooms.
 */
export function socketAuth(ctx: GatewayContext) {
  const { config, metrics } = ctx;
  const refuse = (next: (err?: Error) => void, reason: string, message: string) => {
    metrics.socketioErrors.inc({ reason });
    next(new Error(message));
  };
  return (socket: Socket, next: (err?: Error) => void) => {
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const token = typeof auth?.['token'] === 'string' ? auth['token'] : '';
    const data = socket.data as SocketIoData;
    data.roles = [];
    if (token === '') {
      if (config.authRequired) return refuse(next, 'auth_required', 'Authentication required');
      return next();
    }
    if (config.jwt === undefined) return refuse(next, 'auth_failed', 'Authentication failed');
    const verified = verifyToken(token, config.jwt);
    const sub = verified.ok ? verified.claims.sub : undefined;
    if (!verified.ok || typeof sub !== 'string' || sub === '') return refuse(next, 'auth_failed', 'Authentication failed');
    data.user = { ...verified.claims, sub };
    data.roles = rolesOf(verified.claims);
    void socket.join([userRoom(sub), ...data.roles.map(roleRoom)]);
    next();
  };
}
