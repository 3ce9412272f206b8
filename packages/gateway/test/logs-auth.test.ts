import { describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import { loadConfig } from '@switchboard/config';
import { authorizeLogs, grantsApp, grantsClear } from '../src/ws/logs/auth.js';

const SECRET = 'logs-auth-unit-secret-logs-auth-unit';
const token = (claims: Record<string, unknown>) => jwt.sign(claims, SECRET, { algorithm: 'HS256', expiresIn: 60 });

describe('grantsApp', () => {
  it('reads the apps array (with the * wildcard) and the appId claim', () => {
    expect(grantsApp({ apps: ['a', 'b'] }, 'b')).toBe(true);
    expect(grantsApp({ apps: ['*'] }, 'anything')).toBe(true);
    expect(grantsApp({ appId: 'a' }, 'a')).toBe(true);
    expect(grantsApp({ apps: ['a'], appId: 'c' }, 'c')).toBe(true);
    expect(grantsApp({ apps: 'a' }, 'a')).toBe(false); // not an array
    expect(grantsApp({ apps: ['a'] }, 'b')).toBe(false);
    expect(grantsApp({}, 'a')).toBe(false);
  });
});

describe('grantsClear', () => {
  it('reads logs:clear from the space-separated scope or the permissions array, and nothing else', () => {
    expect(grantsClear({ scope: 'logs:read logs:clear' })).toBe(true);
    expect(grantsClear({ permissions: ['x', 'logs:clear'] })).toBe(true);
    expect(grantsClear({ scope: 'logs:clearall logs:read' })).toBe(false);
    expect(grantsClear({ scope: ['logs:clear'] })).toBe(false); // scope is a string
    expect(grantsClear({ permissions: 'logs:clear' })).toBe(false); // permissions is an array
    expect(grantsClear({ apps: ['*'] })).toBe(false); // reading every app does not imply clearing
  });
});

describe('authorizeLogs', () => {
  const required = loadConfig({ JWT_SECRET: SECRET, AUTH_REQUIRED: 'true' });
  const optional = loadConfig({ JWT_SECRET: SECRET });
  const noKey = loadConfig({});

  it('accepts anonymous auth only when authentication is optional', () => {
    expect(authorizeLogs(optional, { userId: 'u', appId: 'a' })).toEqual({ ok: true, appId: 'a', userId: 'u', canClear: true });
    expect(authorizeLogs(required, { userId: 'u', appId: 'a' })).toMatchObject({ ok: false });
    expect(authorizeLogs(required, { userId: 'u', appId: 'a', token: '' })).toMatchObject({ ok: false });
  });

  it('accepts a granting token whose subject is the user', () => {
    expect(authorizeLogs(required, { userId: 'u', appId: 'a', token: token({ sub: 'u', apps: ['a'] }) })).toEqual({
      ok: true,
      appId: 'a',
      userId: 'u',
      canClear: false,
    });
    expect(authorizeLogs(required, { userId: 'any', appId: 'a', token: token({ appId: 'a', scope: 'logs:clear' }) })).toEqual({
      ok: true,
      appId: 'a',
      userId: 'any',
      canClear: true,
    });
  });

  it('refuses tokens it cannot verify, that do not grant the app, or name another user', () => {
    expect(authorizeLogs(noKey, { userId: 'u', appId: 'a', token: token({ apps: ['a'] }) })).toMatchObject({ ok: false });
    expect(authorizeLogs(optional, { userId: 'u', appId: 'a', token: 'garbage' })).toEqual({ ok: false, message: 'Authentication failed' });
    expect(authorizeLogs(optional, { userId: 'u', appId: 'a', token: token({ apps: ['b'] }) })).toEqual({
      ok: false,
      message: 'Not authorized for appId "a"',
    });
    expect(authorizeLogs(optional, { userId: 'u', appId: 'a', token: token({ sub: 'v', apps: ['a'] }) })).toEqual({
      ok: false,
      message: 'userId does not match the token',
    });
  });
});
