import jwt from 'jsonwebtoken';
import type { JwtConfig } from '@switchboard/config';

export interface Claims {
  sub?: string;
  [claim: string]: unknown;
}

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: 'invalid' | 'expired' | 'no_expiry' };

/**
 * Verifies a JWT with an explicit algorithm list (never `none`), issuer and audience when
 * configured, and a required expiry: a token that never expires is refused.
 */
export function verifyToken(token: string, config: JwtConfig): VerifyResult {
  try {
    const payload = jwt.verify(token, config.key, {
      algorithms: config.algorithms,
      clockTolerance: 5,
      ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
      ...(config.audience !== undefined ? { audience: config.audience } : {}),
    });
    if (typeof payload !== 'object' || payload === null) return { ok: false, reason: 'invalid' };
    if (typeof payload.exp !== 'number') return { ok: false, reason: 'no_expiry' };
    return { ok: true, claims: payload as Claims };
  } catch (err) {
    return { ok: false, reason: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
