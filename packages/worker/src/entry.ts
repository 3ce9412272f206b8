import type { z } from 'zod';
import { ingestAt, ingestEnvelopeSchema, newEventId, parseJson, validate, type IngestKind, type Validated } from '@switchboard/protocol';
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

const streamIdTime = (streamId: string): number => Number(streamId.split('-')[0]);

/**
 * Validates the envelope of an entry; producers that XADD directly may omit `id` and `at` (the
 * stream id's time stands in, bounded like `at`). Whatever the products derive from a decoded
 * envelope cannot fail: what would fail later is refused here, and the entry dead-lettered.
 */
export function decodeEntry(entry: StreamEntry): Validated<DecodedEntry> {
  const envelope = validate(ingestEnvelopeSchema, entry.fields);
  if (!envelope.ok) return envelope;
  const at = envelope.value.at ?? ingestAt.safeParse(streamIdTime(entry.streamId)).data;
  if (at === undefined) return { ok: false, error: `at: the stream id ${entry.streamId} is not a usable time (give an \`at\` field)` };
  return {
    ok: true,
    value: {
      kind: envelope.value.kind,
      id: envelope.value.id ?? newEventId(),
      at,
      body: envelope.value.body,
    },
  };
}

/** Parses and validates an entry's body with its product's schema. */
export function decodeBody<T>(entry: DecodedEntry, schema: z.ZodType<T>): Validated<T> {
  const json = parseJson(entry.body);
  return json.ok ? validate(schema, json.value) : { ok: false, error: `body: ${json.error}` };
}
