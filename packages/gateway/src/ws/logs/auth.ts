import type { Config } from '@switchboard/config';
import { verifyToken, type Claims } from '../../auth/jwt.js';

/**
 * JWT claims that grant apps on `/ws/logs`: `apps`, an array of appIds (`"*"` grants every app),
 * and/or `appId`, a single appId.
 */
export const APPS_CLAIM = 'apps';
export const APP_ID_CLAIM = 'appId';

/**
 * What a token needs for `clear`, which empties an app's history for every reader: the
 * permission in its `scope` (space-separated, as in OAuth) or its `permissions` array. Reading an
 * app does not imply it. Anonymous connections (only possible with AUTH_REQUIRED=false) keep the
 * original server's behaviour: anyone connected may clear.
 */
export const CLEAR_PERMISSION = 'logs:clear';

export type LogsAuthResult = { ok: true; appId: string; userId: string; canClear: boolean } | { ok: false; message: string };

export function grantsClear(claims: Claims): boolean {
  const { scope, permissions } = claims;
  if (typeof scope === 'string' && scope.split(' ').includes(CLEAR_PERMISSION)) return true;
  return Array.isArray(permissions) && permissions.includes(CLEAR_PERMISSION);
}

export function grantsApp(claims: Claims, appId: string): boolean {
  const apps = claims[APPS_CLAIM];
  if (Array.isArray(apps) && apps.some((app) => app === appId || app === '*')) return true;
  return claims[APP_ID_CLAIM] === appId;
}

/**
 * The first message of a `/ws/logs` connection, `{"type":"auth","data":{userId, appId, token?}}`.
 * With a token: valid, unexpired, granting the app, and its `sub` (when present) is the userId;
 * `canClear` then comes from the token's grants.
 * Without one: accepted only while anonymous access is allowed (AUTH_REQUIRED=false).
 */
export function authorizeLogs(config: Config, data: { userId: string; appId: string; token?: string | undefined }): LogsAuthResult {
  const { appId, userId, token } = data;
  if (token === undefined || token === '') {
    return config.authRequired
      ? { ok: false, message: 'Authentication required: send a token that grants this appId' }
      : { ok: true, appId, userId, canClear: true };
  }
  if (config.jwt === undefined) return { ok: false, message: 'Authentication failed: tokens are not accepted by this server' };
  const verified = verifyToken(token, config.jwt);
  if (!verified.ok) {
    return { ok: false, message: verified.reason === 'expired' ? 'Authentication failed: token expired' : 'Authentication failed' };
  }
  if (!grantsApp(verified.claims, appId)) return { ok: false, message: `Not authorized for appId "${appId}"` };
  const subject = verified.claims.sub;
  if (typeof subject === 'string' && subject !== userId) return { ok: false, message: 'userId does not match the token' };
  return { ok: true, appId, userId, canClear: grantsClear(verified.claims) };
}
