import { createHash, timingSafeEqual } from 'node:crypto';
import type { JwtConfig, ServerApiConfig } from '@switchboard/config';
import { JOB_ADMIN_ROLE } from '@switchboard/protocol';
import { bearerToken } from '../auth/bearer.js';
import { verifyToken } from '../auth/jwt.js';
import { rolesOf } from '../socketio/auth.js';

/** The role a JWT must carry to call the server API (the same `admin` role that may follow any job). */
export const ADMIN_ROLE = JOB_ADMIN_ROLE;

/** Who is calling: the admin token's holder, a JWT admin (its `sub`), or anyone (anonymous API). */
export type AdminCaller = { by: 'token' } | { by: 'jwt'; sub: string | undefined } | { by: 'anonymous' };

export type AdminCheck =
  | { ok: true; caller: AdminCaller }
  /** 401: no credential, or one that is neither the admin token nor a valid JWT; 403: a valid JWT without the role. */
  | { ok: false; status: 401 | 403; error: string };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The server API's credential check: `Authorization: Bearer <ADMIN_TOKEN>` (compared in constant
 * time, on digests so the length leaks nothing either), or `Authorization: Bearer <JWT>` whose
 * `roles` (or `role`) include `admin`. Never anonymous unless ADMIN_API_ANONYMOUS says so.
 */
export class AdminAuth {
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly api: ServerApiConfig,
    private readonly jwt: JwtConfig | undefined,
  ) {
    this.tokenDigest = api.adminToken === undefined ? undefined : digest(api.adminToken);
  }

  check(authorization: string): AdminCheck {
    if (this.api.anonymous) return { ok: true, caller: { by: 'anonymous' } };
    const presented = bearerToken(authorization);
    if (presented === undefined) return { ok: false, status: 401, error: 'admin credential required (Authorization: Bearer <token>)' };
    if (this.tokenDigest !== undefined && timingSafeEqual(this.tokenDigest, digest(presented))) return { ok: true, caller: { by: 'token' } };
    if (this.jwt === undefined) return { ok: false, status: 401, error: 'invalid admin credential' };
    const verified = verifyToken(presented, this.jwt);
    if (!verified.ok) return { ok: false, status: 401, error: `invalid admin credential (${verified.reason})` };
    if (!rolesOf(verified.claims).includes(ADMIN_ROLE)) return { ok: false, status: 403, error: `the token lacks the ${ADMIN_ROLE} role` };
    const sub = verified.claims.sub;
    return { ok: true, caller: { by: 'jwt', sub: typeof sub === 'string' ? sub : undefined } };
  }
}
