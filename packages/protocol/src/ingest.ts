import { z } from 'zod';
import { isWellFormed } from './json-document.js';

/** The products whose events go through the ingest stream (`logs_clear`: a client's `clear`). */
export const INGEST_KINDS = ['analytics', 'error', 'job', 'logs', 'logs_clear', 'availability'] as const;
export type IngestKind = (typeof INGEST_KINDS)[number];

/**
 * Fields of one ingest stream entry. Gateways write all four; producers that XADD directly
 * need only `kind` and `body` (the worker assigns the id and uses the entry's time).
 */
export interface IngestEnvelope {
  kind: IngestKind;
  /** Event id returned to the producer (UUIDv7). */
  id: string;
  /** Unix milliseconds when the gateway accepted the event. */
  at: number;
  /** The validated body, JSON-encoded. */
  body: string;
}

/** Earliest `at` accepted: what is older is almost always a unit mix-up (seconds for ms). */
export const EARLIEST_AT_MS = Date.UTC(2000, 0, 1);
/** How far ahead of the worker's clock an `at` may be (clock skew between nodes). */
export const AT_MAX_AHEAD_MS = 86_400_000;
const AT_RANGE = 'expected unix milliseconds between 2000-01-01 and a day from now';

/** Whether unix milliseconds are within `ingestAt`'s bounds. */
export const ingestAtInRange = (ms: number): boolean => Number.isSafeInteger(ms) && ms >= EARLIEST_AT_MS && ms <= Date.now() + AT_MAX_AHEAD_MS;

/**
 * When an event was accepted, unix milliseconds: from the envelope, or from the stream id of a
 * direct XADD. Bounded, so every date the worker derives from it exists.
 */
export const ingestAt = z.coerce
  .number({ error: AT_RANGE })
  .int({ error: AT_RANGE })
  .refine(ingestAtInRange, { error: AT_RANGE });

/**
 * The envelope, as the worker reads it from a stream entry. `id` is a UUID wherever it comes
 * from: it is interpolated into frames and Redis keys, and a producer choosing it freely could
 * break or forge either.
 */
export const ingestEnvelopeSchema = z.object({
  kind: z.enum(INGEST_KINDS, { error: `expected one of ${INGEST_KINDS.join(', ')}` }),
  id: z.uuid({ error: 'expected a UUID' }).optional(),
  at: ingestAt.optional(),
  body: z.string({ error: 'expected a JSON string' }),
});

export const envelopeFields = (envelope: IngestEnvelope): Record<string, string> => ({
  kind: envelope.kind,
  id: envelope.id,
  at: String(envelope.at),
  body: envelope.body,
});

/** What `ingestEnvelopeSchema` makes of a stream entry's fields. */
export type DecodedEnvelope = z.output<typeof ingestEnvelopeSchema>;

const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(['kind', 'id', 'at', 'body']);
const KINDS: ReadonlySet<string> = new Set(INGEST_KINDS);
/** A lowercase UUID (versions 1 to 8, RFC variant), as gateways write them: what `z.uuid()` accepts, narrowed. */
const PLAIN_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Unix milliseconds as gateways write them: digits only, no sign, leading zero, exponent or space. */
const PLAIN_MS = /^[1-9][0-9]{0,15}$/;

/**
 * `ingestEnvelopeSchema` for the fields it certainly accepts (an entry as a gateway writes it: no
 * other field, plain values), returned exactly as the schema would; undefined: ask the schema,
 * which decides and words every error (test/unit compares both on a corpus of entries). The
 * worker runs it on every entry: the schema costs several times the rest of the decoding.
 */
export function acceptEnvelope(fields: Record<string, unknown>): DecodedEnvelope | undefined {
  for (const key in fields) if (!ENVELOPE_FIELDS.has(key)) return undefined;
  const { kind, id, at, body } = fields;
  if (typeof kind !== 'string' || !KINDS.has(kind)) return undefined;
  // The document rules (validate's checkJsonDocument): the other fields are ASCII by their patterns.
  if (typeof body !== 'string' || !isWellFormed(body)) return undefined;
  if (id !== undefined && (typeof id !== 'string' || !PLAIN_UUID.test(id))) return undefined;
  let ms: number | undefined;
  if (at !== undefined) {
    if (typeof at !== 'string' || !PLAIN_MS.test(at)) return undefined;
    ms = Number(at);
    if (!ingestAtInRange(ms)) return undefined;
  }
  const envelope: DecodedEnvelope = { kind: kind as IngestKind, body };
  if (id !== undefined) envelope.id = id;
  if (ms !== undefined) envelope.at = ms;
  return envelope;
}
