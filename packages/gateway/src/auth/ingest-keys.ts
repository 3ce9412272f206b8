import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

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
    const presented = apiKeyHeader.trim() || /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] || '';
    if (presented === '') return 'missing';
    const candidate = digest(presented);
    let match = false;
    for (const known of this.digests) match = timingSafeEqual(known, candidate) || match;
    return match ? 'ok' : 'invalid';
  }
}
