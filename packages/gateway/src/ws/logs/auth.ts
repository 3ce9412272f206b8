import type { Config } from '@switchboard/config';
import { verifyToken, type Claims } from '../../auth/jwt.js';

/**
 * JWT claims that grant apps on `/ws/logs`: `apps`, an array of appIds (`"*"` grants every app),
 * and/or `appId`, a single appId.
 */
export const APPS_CLAIM = 'apps';
export const APP_ID_CLAIM = 'appId';

export type LogsAuthResult = { ok: true; appId: string; userId: string } | { ok: false; message: string };

export function grantsApp(claims: Claims, appId: string): boolean {
  const apps = claims[APPS_CLAIM];
  if (Array.isArray(apps) && apps.some((app) => app === appId || app === '*')) return true;
  return claims[APP_ID_CLAIM] === appId;
}

/**
 * The first message of a `/ws/logs` connection, `{"type":"auth","data":{userId, appId, token?}}`.
 * With a token: valid, unexpired, granting the app, and its `sub` (when present) is the userId.
 * Without one: accepted only while anonymous access is allowed (AUTH_REQUIRED=false).
 */
export function authorizeLogs(config: Config, data: { userId: string; appId: string; token?: string | undefined }): LogsAuthResult {
  const { appId, userId, token } = data;
  if (token === undefined || token === '') {
    return config.authRequired
      ? { ok: false, message: 'Authentication required: send a token that grants this appId' }
      : { ok: true, appId, userId };
  }
  if (config.jwt === undefined) return { ok: false, message: 'Authentication failed: tokens are not accepted by this server' };
  const verified = verifyToken(token, config.jwt);
  if (!verified.ok) {
    return { ok: false, message: verified.reason === 'expired' ? 'Authentication failed: token expired' : 'Authentication failed' };
  }
  if (!grantsApp(verified.claims, appId)) return { ok: false, message: `Not authorized for appId "${appId}"` };
  const subject = verified.claims.sub;
  if (typeof subject === 'string' && subject !== userId) return { ok: false, message: 'userId does not match the token' };
  return { ok: true, appId, userId };
}
