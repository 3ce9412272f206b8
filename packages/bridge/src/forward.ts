import {
  availabilityIngestSchema,
  envelopeFields,
  newEventId,
  parseJson,
  validate,
  type AvailabilityData,
  type Validated,
} from '@switchboard/protocol';
import type { Engine } from '@switchboard/engine';

/** A message body as the tour catalog publishes it: the event itself, JSON. */
export function decodeAvailabilityMessage(content: Buffer): Validated<AvailabilityData> {
  const json = parseJson(content.toString('utf8'));
  if (!json.ok) return { ok: false, error: `body: ${json.error}` };
  return validate(availabilityIngestSchema, json.value);
}

/** Makes a forward happen at most once per key while the key is remembered. */
export interface ForwardDedupe {
  /** Marker key (protocol `ingestDedupeKey`). */
  key: string;
  ttlS: number;
}

/**
 * Queues the event in the ingest stream, exactly as `POST /availability` does; resolves with its
 * id. With `dedupe`, a key already forwarded stores nothing and resolves with the first event's id.
 */
export async function forwardAvailability(
  engine: Engine,
  data: AvailabilityData,
  dedupe?: ForwardDedupe,
): Promise<{ id: string; duplicate: boolean }> {
  const id = newEventId();
  const fields = envelopeFields({ kind: 'availability', id, at: Date.now(), body: JSON.stringify(data) });
  if (dedupe === undefined) {
    await engine.appendIngest(fields);
    return { id, duplicate: false };
  }
  const result = await engine.appendIngestOnce(fields, { key: dedupe.key, ttlS: dedupe.ttlS, value: id });
  return result.duplicate ? { id: result.value, duplicate: true } : { id, duplicate: false };
}
