import { describe, expect, it } from 'vitest';
import { producerId } from '../src/auth/ingest-keys.js';
import { httpDedupeKey, parseIdempotencyKey, replayedAnswer } from '../src/http/idempotency.js';

describe('parseIdempotencyKey', () => {
  it('treats a missing (empty) header as no key', () => {
    expect(parseIdempotencyKey('')).toEqual({ ok: true, key: undefined });
  });

  it.each(['a', 'order-42:retry', '~!"#$%&()*+,-./09:;<=>?@AZ[\\]^_`az{|}', 'x'.repeat(200)])('accepts %j', (key) => {
    expect(parseIdempotencyKey(key)).toEqual({ ok: true, key });
  });

  it.each([
    ['x'.repeat(201), 'Idempotency-Key: expected at most 200 characters'],
    ['has space', 'Idempotency-Key: expected visible ASCII characters only (no spaces)'],
    ['tab\there', 'Idempotency-Key: expected visible ASCII characters only (no spaces)'],
    ['clé', 'Idempotency-Key: expected visible ASCII characters only (no spaces)'],
  ])('refuses %j', (key, error) => {
    expect(parseIdempotencyKey(key)).toEqual({ ok: false, error });
  });
});

describe('producerId', () => {
  it('names a producer by a short digest of its key, whichever header carries it', () => {
    const id = producerId('Bearer secret-key-1', '');
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(producerId('', 'secret-key-1')).toBe(id);
    expect(producerId('Bearer secret-key-2', '')).not.toBe(id);
    expect(id).not.toContain('secret');
  });

  it('is anonymous without a key', () => {
    expect(producerId('', '')).toBe('anonymous');
  });
});

describe('dedupe keys and replayed answers', () => {
  it('scopes a key by route kind and producer', () => {
    expect(httpDedupeKey('analytics', 'p1', 'k')).toBe('sb:ingest:dedupe:http:analytics:p1:k');
    expect(httpDedupeKey('logs', 'p1', 'k')).not.toBe(httpDedupeKey('analytics', 'p1', 'k'));
    expect(httpDedupeKey('analytics', 'p2', 'k')).not.toBe(httpDedupeKey('analytics', 'p1', 'k'));
  });

  it('answers the stored answer, or a bare stored id as {id}', () => {
    expect(replayedAnswer('{"id":"a","ids":["a","b"]}')).toEqual({ id: 'a', ids: ['a', 'b'] });
    expect(replayedAnswer('0190-abc')).toEqual({ id: '0190-abc' });
  });
});
