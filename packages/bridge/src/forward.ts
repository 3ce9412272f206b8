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

/** Queues the event in the ingest stream, exactly as `POST /availability` does; resolves with its id. */
export async function forwardAvailability(engine: Engine, data: AvailabilityData): Promise<string> {
  const id = newEventId();
  await engine.appendIngest(envelopeFields({ kind: 'availability', id, at: Date.now(), body: JSON.stringify(data) }));
  return id;
}
