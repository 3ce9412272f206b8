import type { z } from 'zod';
import {
  acceptEnvelope,
  ingestAtInRange,
  ingestEnvelopeSchema,
  newEventId,
  parseAccepted,
  validate,
  type IngestKind,
  type Validated,
} from '@switchboard/protocol';
import type { Commit, StreamEntry, StringRead } from '@switchboard/engine';

/** A stream entry whose envelope checked out. */
export interface DecodedEntry {
  kind: IngestKind;
  id: string;
  /** When the event was accepted (gateway time, or the stream id's time for direct XADDs). */
  at: number;
  body: string;
}

/** Settings some products need (from the configuration). */
export interface ProductSettings {
  /** Log entries kept per application. */
  logHistoryLimit: number;
}

export type ProductResult = { ok: true; commit: Commit } | { ok: false; error: string };

/** What a product may read before it builds its commit. */
export interface StateReader {
  readStrings(reads: StringRead[]): Promise<string[][]>;
}

/** A state read that failed (Redis away): the entry is retried, not judged invalid. */
export class StateReadError extends Error {
  constructor(cause: unknown) {
    super('state read failed', { cause });
  }
}

/** The engine's reads, with failures marked as StateReadError. */
export const stateReader = (engine: StateReader): StateReader => ({
  readStrings: (reads) =>
    engine.readStrings(reads).catch((err: unknown) => {
      throw new StateReadError(err);
    }),
});

const streamIdTime = (streamId: string): number => {
  const dash = streamId.indexOf('-');
  return Number(dash === -1 ? streamId : streamId.slice(0, dash));
};

/**
 * Validates the envelope of an entry; producers that XADD directly may omit `id` and `at` (the
 * stream id's time stands in, bounded like `at`). Whatever the products derive from a decoded
 * envelope cannot fail: what would fail later is refused here, and the entry dead-lettered.
 * An entry as gateways write it takes the hand-checked path (`acceptEnvelope`); any other, the schema.
 */
export function decodeEntry(entry: StreamEntry): Validated<DecodedEntry> {
  let envelope = acceptEnvelope(entry.fields);
  if (envelope === undefined) {
    const checked = validate(ingestEnvelopeSchema, entry.fields);
    if (!checked.ok) return checked;
    envelope = checked.value;
  }
  const at = envelope.at ?? streamIdTime(entry.streamId);
  if (!ingestAtInRange(at)) return { ok: false, error: `at: the stream id ${entry.streamId} is not a usable time (give an \`at\` field)` };
  return { ok: true, value: { kind: envelope.kind, id: envelope.id ?? newEventId(), at, body: envelope.body } };
}

/**
 * Parses an entry's body once and validates it with its product's schema, or first with the
 * product's fast path (`accept`, e.g. acceptAnalytics) when it has one.
 */
export const decodeBody = <T>(entry: DecodedEntry, schema: z.ZodType<T>, accept?: (input: unknown) => T | undefined): Validated<T> =>
  parseAccepted(entry.body, schema, accept);
