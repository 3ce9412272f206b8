import { z } from 'zod';

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

/**
 * When an event was accepted, unix milliseconds: from the envelope, or from the stream id of a
 * direct XADD. Bounded, so every date the worker derives from it exists.
 */
export const ingestAt = z.coerce
  .number({ error: AT_RANGE })
  .int({ error: AT_RANGE })
  .refine((ms) => ms >= EARLIEST_AT_MS && ms <= Date.now() + AT_MAX_AHEAD_MS, { error: AT_RANGE });

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
