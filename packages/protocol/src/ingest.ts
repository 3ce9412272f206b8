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

export const ingestEnvelopeSchema = z.object({
  kind: z.enum(INGEST_KINDS, { error: `expected one of ${INGEST_KINDS.join(', ')}` }),
  id: z.string().min(1).max(64).optional(),
  at: z.coerce.number().int().positive().optional(),
  body: z.string({ error: 'expected a JSON string' }),
});

export const envelopeFields = (envelope: IngestEnvelope): Record<string, string> => ({
  kind: envelope.kind,
  id: envelope.id,
  at: String(envelope.at),
  body: envelope.body,
});
