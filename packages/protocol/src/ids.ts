import { v7 as uuidv7, validate as uuidValidate } from 'uuid';

/**
 * Event ids are UUIDv7: unique across nodes without coordination, sortable, and carrying the
 * ingest time, so any gateway can measure ingest → delivery latency from the id alone.
 */
export const newEventId = (): string => uuidv7();

/** Milliseconds since the epoch encoded in a UUIDv7, or undefined for any other id. */
export function eventIdTime(id: string): number | undefined {
  if (!isUuidV7(id)) return undefined;
  const hex = id.slice(0, 8) + id.slice(9, 13);
  const ms = Number.parseInt(hex, 16);
  return Number.isFinite(ms) ? ms : undefined;
}

export const isUuid = (value: string): boolean => uuidValidate(value);
/** A UUID of version 7 (what uuid's validate + version say, in one test: gateways read one per fanned-out frame). */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const isUuidV7 = (value: string): boolean => UUID_V7.test(value);
