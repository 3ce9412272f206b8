import { ingestDedupeKey, parseJson, type IngestKind } from '@switchboard/protocol';

/** Longest accepted `Idempotency-Key`, which also bounds the marker keys in Redis. */
export const IDEMPOTENCY_KEY_MAX = 200;

/** Visible ASCII only (0x21–0x7E): no spaces, controls or non-ASCII. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The request's `Idempotency-Key` header: absent (uWS answers '' for a missing header, so an
 * empty one counts as absent), valid, or an error naming why it is refused.
 */
export function parseIdempotencyKey(header: string): { ok: true; key: string | undefined } | { ok: false; error: string } {
  if (header === '') return { ok: true, key: undefined };
  if (header.length > IDEMPOTENCY_KEY_MAX) return { ok: false, error: `Idempotency-Key: expected at most ${IDEMPOTENCY_KEY_MAX} characters` };
  if (!VISIBLE_ASCII.test(header)) return { ok: false, error: 'Idempotency-Key: expected visible ASCII characters only (no spaces)' };
  return { ok: true, key: header };
}

/**
 * The marker key of an `Idempotency-Key`, scoped by route kind and producer: the same key sent
 * by two producers, or to two routes, names two different events.
 */
export const httpDedupeKey = (kind: IngestKind, producer: string, key: string): string =>
  ingestDedupeKey(`http:${kind}:${producer}`, key);

/** The first request's answer, as kept in the marker (a bare event id is answered as `{id}`). */
export function replayedAnswer(stored: string): Record<string, unknown> {
  const json = parseJson(stored);
  return json.ok && typeof json.value === 'object' && json.value !== null && !Array.isArray(json.value)
    ? (json.value as Record<string, unknown>)
    : { id: stored };
}
