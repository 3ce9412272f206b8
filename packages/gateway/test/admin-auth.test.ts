import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import type { JwtConfig } from '@switchboard/config';
import { AdminAuth } from '../src/api/admin-auth.js';

const SECRET = 'admin-auth-test-secret-0123456789';
const hs256: JwtConfig = { key: SECRET, algorithms: ['HS256'], issuer: undefined, audience: undefined };
const sign = (claims: Record<string, unknown>, expiresIn = 60): string => jwt.sign(claims, SECRET, { algorithm: 'HS256', expiresIn });
const bearer = (credential: string): string => `Bearer ${credential}`;

describe('AdminAuth', () => {
  const auth = new AdminAuth({ adminToken: 'the-admin-token', anonymous: false }, hs256);

  it('accepts the admin token, whatever the case of the scheme', () => {
    expect(auth.check(bearer('the-admin-token'))).toEqual({ ok: true, caller: { by: 'token' } });
    expect(auth.check('bearer   the-admin-token ')).toMatchObject({ ok: true });
  });

  it('accepts a JWT whose roles (or role) include admin, naming its subject', () => {
    expect(auth.check(bearer(sign({ sub: 'ops-1', roles: ['admin'] })))).toEqual({ ok: true, caller: { by: 'jwt', sub: 'ops-1' } });
    expect(auth.check(bearer(sign({ role: 'admin' })))).toEqual({ ok: true, caller: { by: 'jwt', sub: undefined } });
  });

  it.each([
    ['no header', ''],
    ['another scheme', `Basic ${Buffer.from('admin:the-admin-token').toString('base64')}`],
    ['a bare token', 'the-admin-token'],
    ['a prefix of the token', bearer('the-admin-toke')],
    ['a longer token', bearer('the-admin-token-')],
    ['an expired admin JWT', bearer(sign({ roles: ['admin'] }, -30))],
    ['a JWT signed with another key', bearer(jwt.sign({ roles: ['admin'] }, 'another-key-another-key-0000000', { expiresIn: 60 }))],
    ['a JWT without expiry', bearer(jwt.sign({ roles: ['admin'] }, SECRET))],
    ['an unsigned JWT', bearer(jwt.sign({ roles: ['admin'] }, '', { algorithm: 'none' }))],
  ])('401 for %s', (_what, header) => {
    expect(auth.check(header)).toMatchObject({ ok: false, status: 401 });
  });

  it.each([
    ['no roles', {}],
    ['other roles', { roles: ['viewer', 'administrator'] }],
    ['roles that are not strings', { roles: [{ admin: true }] }],
  ])('403 for a valid JWT with %s', (_what, claims) => {
    expect(auth.check(bearer(sign(claims)))).toMatchObject({ ok: false, status: 403 });
  });

  it('without ADMIN_TOKEN, only JWT admins get in', () => {
    const jwtOnly = new AdminAuth({ adminToken: undefined, anonymous: false }, hs256);
    expect(jwtOnly.check(bearer('the-admin-token'))).toMatchObject({ ok: false, status: 401 });
    expect(jwtOnly.check(bearer(sign({ roles: ['admin'] })))).toMatchObject({ ok: true });
  });

  it('without any credential configured, refuses everyone (never anonymous by default)', () => {
    const none = new AdminAuth({ adminToken: undefined, anonymous: false }, undefined);
    expect(none.check('')).toMatchObject({ ok: false, status: 401 });
    expect(none.check(bearer('anything'))).toMatchObject({ ok: false, status: 401 });
  });

  it('lets anyone in only when the anonymous API is enabled', () => {
    const open = new AdminAuth({ adminToken: undefined, anonymous: true }, undefined);
    expect(open.check('')).toEqual({ ok: true, caller: { by: 'anonymous' } });
  });
});
