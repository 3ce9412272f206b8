import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import type { JwtConfig } from '@switchboard/config';
import { bearerToken } from '../src/auth/bearer.js';
import { verifyToken } from '../src/auth/jwt.js';

const SECRET = 'test-secret-of-reasonable-length-000';
const hs256: JwtConfig = { key: SECRET, algorithms: ['HS256'], issuer: undefined, audience: undefined };
const nowS = (): number => Math.floor(Date.now() / 1000);

const b64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Builds an HS256 token by hand, with any string as the HMAC key (what an attacker would do). */
function handSignedHs256(payload: object, key: string): string {
  const head = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
  return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
}

describe('verifyToken with HS256', () => {
  it('accepts a valid token with an expiry and returns its claims', () => {
    const token = jwt.sign({ sub: 'user-1', role: 'viewer' }, SECRET, { algorithm: 'HS256', expiresIn: 60 });
    const result = verifyToken(token, hs256);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.claims.sub).toBe('user-1');
    expect(result.claims['role']).toBe('viewer');
    expect(typeof result.claims['exp']).toBe('number');
  });

  it("reports an expired token as 'expired'", () => {
    const token = jwt.sign({ sub: 'u', exp: nowS() - 60 }, SECRET, { algorithm: 'HS256' });
    expect(verifyToken(token, hs256)).toEqual({ ok: false, reason: 'expired' });
  });

  it('tolerates a few seconds of clock skew on the expiry', () => {
    const token = jwt.sign({ sub: 'u', exp: nowS() - 2 }, SECRET, { algorithm: 'HS256' });
    expect(verifyToken(token, hs256).ok).toBe(true);
  });

  it("refuses a token without exp as 'no_expiry'", () => {
    const token = jwt.sign({ sub: 'u' }, SECRET, { algorithm: 'HS256' });
    expect(verifyToken(token, hs256)).toEqual({ ok: false, reason: 'no_expiry' });
  });

  it('refuses a token signed with another secret', () => {
    const token = jwt.sign({ sub: 'u' }, 'some-other-secret-entirely-0000000', { algorithm: 'HS256', expiresIn: 60 });
    expect(verifyToken(token, hs256)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a tampered payload', () => {
    const token = jwt.sign({ sub: 'user-1' }, SECRET, { algorithm: 'HS256', expiresIn: 60 });
    const [header, , signature] = token.split('.');
    const forged = `${header}.${b64url({ sub: 'admin', exp: nowS() + 60 })}.${signature}`;
    expect(verifyToken(forged, hs256)).toEqual({ ok: false, reason: 'invalid' });
  });

  it("refuses an unsigned 'alg: none' token", () => {
    const payload = { sub: 'admin', exp: nowS() + 3600 };
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
    expect(verifyToken(unsigned, hs256)).toEqual({ ok: false, reason: 'invalid' });
    // Even when the attacker appends the real HMAC of the body, the header's alg is not allowed.
    const body = unsigned.slice(0, -1);
    const signed = `${body}${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
    expect(verifyToken(signed, hs256)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses a token whose payload is not a JSON object', () => {
    const token = jwt.sign('just-a-string', SECRET, { algorithm: 'HS256' });
    expect(verifyToken(token, hs256)).toEqual({ ok: false, reason: 'invalid' });
  });

  it.each(['', 'garbage', 'a.b.c', 'a.b'])('refuses the malformed token %j', (token) => {
    expect(verifyToken(token, hs256)).toEqual({ ok: false, reason: 'invalid' });
  });

  describe('with issuer and audience configured', () => {
    const strict: JwtConfig = { ...hs256, issuer: 'https://auth.example.com', audience: 'switchboard' };
    const sign = (options: jwt.SignOptions) => jwt.sign({ sub: 'u' }, SECRET, { algorithm: 'HS256', expiresIn: 60, ...options });

    it('accepts the right issuer and audience', () => {
      expect(verifyToken(sign({ issuer: 'https://auth.example.com', audience: 'switchboard' }), strict).ok).toBe(true);
    });

    it('refuses the wrong issuer', () => {
      expect(verifyToken(sign({ issuer: 'https://evil.example.com', audience: 'switchboard' }), strict)).toEqual({ ok: false, reason: 'invalid' });
    });

    it('refuses a missing issuer', () => {
      expect(verifyToken(sign({ audience: 'switchboard' }), strict)).toEqual({ ok: false, reason: 'invalid' });
    });

    it('refuses the wrong audience', () => {
      expect(verifyToken(sign({ issuer: 'https://auth.example.com', audience: 'other-app' }), strict)).toEqual({ ok: false, reason: 'invalid' });
    });

    it('refuses a missing audience', () => {
      expect(verifyToken(sign({ issuer: 'https://auth.example.com' }), strict)).toEqual({ ok: false, reason: 'invalid' });
    });

    it('does not check issuer or audience when they are not configured', () => {
      expect(verifyToken(sign({ issuer: 'anyone', audience: 'anything' }), hs256).ok).toBe(true);
    });
  });
});

describe('verifyToken with public keys', () => {
  const rsa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const asymmetric: JwtConfig = { key: rsa.publicKey, algorithms: ['RS256', 'ES256'], issuer: undefined, audience: undefined };

  it('accepts an RS256 token signed with the matching private key', () => {
    const token = jwt.sign({ sub: 'user-rsa' }, rsa.privateKey, { algorithm: 'RS256', expiresIn: 60 });
    const result = verifyToken(token, asymmetric);
    expect(result).toMatchObject({ ok: true, claims: { sub: 'user-rsa' } });
  });

  it('refuses an RS256 token signed with another private key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const token = jwt.sign({ sub: 'u' }, other, { algorithm: 'RS256', expiresIn: 60 });
    expect(verifyToken(token, asymmetric)).toEqual({ ok: false, reason: 'invalid' });
  });

  it("reports an expired RS256 token as 'expired' and one without exp as 'no_expiry'", () => {
    const expired = jwt.sign({ sub: 'u', exp: nowS() - 60 }, rsa.privateKey, { algorithm: 'RS256' });
    expect(verifyToken(expired, asymmetric)).toEqual({ ok: false, reason: 'expired' });
    const forever = jwt.sign({ sub: 'u' }, rsa.privateKey, { algorithm: 'RS256' });
    expect(verifyToken(forever, asymmetric)).toEqual({ ok: false, reason: 'no_expiry' });
  });

  it('refuses an HS256 token using the public key PEM as its secret (algorithm confusion)', () => {
    // Control: the hand-built token is well formed (it verifies when the HMAC key is the secret).
    expect(verifyToken(handSignedHs256({ sub: 'admin', exp: nowS() + 3600 }, SECRET), hs256).ok).toBe(true);
    const token = handSignedHs256({ sub: 'admin', exp: nowS() + 3600 }, rsa.publicKey);
    expect(verifyToken(token, asymmetric)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('accepts an ES256 token signed with a P-256 key', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const config: JwtConfig = { ...asymmetric, key: ec.publicKey };
    const token = jwt.sign({ sub: 'user-ec' }, ec.privateKey, { algorithm: 'ES256', expiresIn: 60 });
    expect(verifyToken(token, config)).toMatchObject({ ok: true, claims: { sub: 'user-ec' } });
  });

  it('refuses an RS256 token when only HS256 is configured', () => {
    const token = jwt.sign({ sub: 'u' }, rsa.privateKey, { algorithm: 'RS256', expiresIn: 60 });
    expect(verifyToken(token, { ...hs256, key: rsa.publicKey })).toEqual({ ok: false, reason: 'invalid' });
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['  Bearer   abc  ', 'abc'],
  ])('reads %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each(['', 'Bearer', 'Bearer ', 'Basic dXNlcjpwdw==', 'Bearer a b', 'Token abc', 'abc'])('returns undefined for %j', (header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});
