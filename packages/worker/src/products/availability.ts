import { CHANNELS, availabilityEventFrame, availabilityIngestSchema } from '@switchboard/protocol';
import type { CommitGuard } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult } from '../entry.js';

/** A `tour.availability.low` event (HTTP or RabbitMQ): published to every availability client. */
export function availabilityCommit(entry: DecodedEntry, guard: CommitGuard): ProductResult {
  const body = decodeBody(entry, availabilityIngestSchema);
  if (!body.ok) return body;
  const frame = availabilityEventFrame({ id: entry.id, data: body.value, timestamp: new Date(entry.at).toISOString() });
  return { ok: true, commit: { guard, ops: [], publish: { channel: CHANNELS.availability, frame } } };
}
