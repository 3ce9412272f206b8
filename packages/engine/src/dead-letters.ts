import { ingestDedupeKey } from '@switchboard/protocol';
import type { Engine, StreamEntry } from './engine.js';

/**
 * An ingest entry a worker set aside (invalid, or delivered too many times without success),
 * as the dead-letter stream keeps it.
 */
export interface DeadLetter {
  /** Its id in the dead-letter stream (`<ms>-<seq>`). */
  id: string;
  /** Why it was set aside. */
  reason: string;
  /** The id the entry had in the ingest stream. */
  sourceId: string;
  /** The entry's own fields (`kind`, `body`, ...), as it was appended. */
  fields: Record<string, string>;
  /** When it was set aside (ms since the epoch). */
  at: number;
}

export interface DeadLetterPage {
  /** Newest first. */
  entries: DeadLetter[];
  /** Pass as `cursor` for the next (older) page; null on the last one. */
  next: string | null;
}

/** The dead-letter stream, for operators: read, remove, and record. Both engines keep one. */
export interface DeadLetters {
  /** Stores an entry with the reason it was set aside; resolves with its dead-letter id. */
  add(entry: StreamEntry, reason: string): Promise<string>;
  /** Up to `limit` dead letters, newest first, older than `cursor` when given. */
  list(limit: number, cursor?: string): Promise<DeadLetterPage>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Removes one; false when there was none with that id. */
  remove(id: string): Promise<boolean>;
  /** How many dead letters are kept. */
  count(): Promise<number>;
}

/** Dead-letter ids are stream ids: `<ms>-<seq>`. */
export const isDeadLetterId = (id: string): boolean => /^\d{1,20}-\d{1,20}$/.test(id);

/** When a stream id was made (its milliseconds part). */
export const streamIdTime = (id: string): number => Number(id.slice(0, id.indexOf('-')));

export type RequeueResult =
  /** `streamId`: the new ingest entry; absent when a concurrent requeue of the same dead letter appended it. */
  | { requeued: true; streamId?: string }
  | { requeued: false };

/**
 * Puts a dead letter back on the ingest stream, once: the append is keyed by the dead-letter id
 * (a marker kept `ttlS`), so two requeues of one dead letter, even at the same time on two
 * gateways, append it once; the dead letter is removed
 * after the append. `requeued: false` when there is no such dead letter (any more).
 */
export async function requeueDeadLetter(engine: Engine, id: string, ttlS: number): Promise<RequeueResult> {
  const letter = isDeadLetterId(id) ? await engine.deadLetters.get(id) : undefined;
  if (letter === undefined) return { requeued: false };
  const appended = await engine.appendIngestOnce(letter.fields, { key: ingestDedupeKey('dead-letter', id), ttlS, value: letter.sourceId });
  await engine.deadLetters.remove(id);
  return appended.duplicate ? { requeued: true } : { requeued: true, streamId: appended.streamId };
}
