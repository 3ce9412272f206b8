import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from './bearer.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

const presentedKey = (authorization: string, apiKeyHeader: string): string =>
  apiKeyHeader.trim() || bearerToken(authorization) || '';

/**
 * A stable, non-secret name for the producer behind a request: the first 16 hex digits of the
 * SHA-256 of its key, or `anonymous` without one. Scopes idempotency keys per producer.
 */
export const producerId = (authorization: string, apiKeyHeader: string): string => {
  const presented = presentedKey(authorization, apiKeyHeader);
  return presented === '' ? 'anonymous' : digest(presented).toString('hex').slice(0, 16);
};

/**
 * Producer credentials for the HTTP ingest routes. Keys are compared in constant time (on their
 * digests, so lengths leak nothing either).
 */
export class IngestKeys {
  private readonly digests: Buffer[];

  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }

  get anonymousAllowed(): boolean {
    return this.digests.length === 0;
  }

  /** `missing` / `invalid` / `ok`, from `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
  check(authorization: string, apiKeyHeader: string): 'ok' | 'missing' | 'invalid' {
    if (this.anonymousAllowed) return 'ok';
    const presented = presentedKey(authorization, apiKeyHeader);
    if (presented === '') return 'missing';
    const candidate = digest(presented);
    let match = false;
    for (const known of this.digests) match = timingSafeEqual(known, candidate) || match;
    return match ? 'ok' : 'invalid';
  }
}
