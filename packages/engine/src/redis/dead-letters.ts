import type { Cluster, Redis } from 'ioredis';
import { INGEST_DEAD_LETTER_STREAM } from '@switchboard/protocol';
import { isDeadLetterId, streamIdTime, type DeadLetter, type DeadLetterPage, type DeadLetters } from '../dead-letters.js';
import type { StreamEntry } from '../engine.js';

type RawEntry = [id: string, fields: string[] | null];

/** An entry on its way to the dead-letter stream. */
export interface DeadCopy {
  /** The id it had in the ingest stream. */
  sourceId: string;
  fields: Record<string, string>;
  reason: string;
  /** Length cap of the dead-letter stream (approximate). */
  maxLen: number;
}

/** XADD arguments that copy an ingest entry, with the reason, onto the dead-letter stream. */
export const deadLetterArgs = ({ sourceId, fields, reason, maxLen }: DeadCopy) =>
  [
    INGEST_DEAD_LETTER_STREAM, 'MAXLEN', '~', maxLen, '*',
    'reason', reason, 'source_id', sourceId, ...Object.entries(fields).flat(),
  ] as const;

/**
 * A dead letter as stored: `reason`, `source_id`, then the entry's own fields, in that order
 * (read by position, so an entry with a field named `reason` keeps it).
 */
function decode([id, flat]: RawEntry): DeadLetter {
  const list = flat ?? [];
  const fields: Record<string, string> = {};
  for (let i = 4; i + 1 < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string;
  return { id, reason: list[1] ?? '', sourceId: list[3] ?? '', fields, at: streamIdTime(id) };
}

/**
 * The dead-letter stream (`sb:ingest:dead`) on Redis. On a Redis Cluster it is one stream for
 * every ingest partition, on its own slot.
 */
export class RedisDeadLetters implements DeadLetters {
  constructor(
    private readonly client: Redis | Cluster,
    /** Length cap (approximate). */
    private readonly maxLen = 10_000,
  ) {}

  async add(entry: StreamEntry, reason: string): Promise<string> {
    const id = await this.client.xadd(...deadLetterArgs({ sourceId: entry.streamId, fields: entry.fields, reason, maxLen: this.maxLen }));
    if (id === null) throw new Error('XADD returned no id');
    return id;
  }

  async list(limit: number, cursor?: string): Promise<DeadLetterPage> {
    if (cursor !== undefined && !isDeadLetterId(cursor)) return { entries: [], next: null };
    const end = cursor === undefined ? '+' : `(${cursor}`;
    const raw = (await this.client.xrevrange(INGEST_DEAD_LETTER_STREAM, end, '-', 'COUNT', limit + 1)) as RawEntry[];
    const entries = raw.slice(0, limit).map(decode);
    return { entries, next: raw.length > limit ? (entries.at(-1)?.id ?? null) : null };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    if (!isDeadLetterId(id)) return undefined;
    const [raw] = (await this.client.xrange(INGEST_DEAD_LETTER_STREAM, id, id)) as RawEntry[];
    return raw === undefined ? undefined : decode(raw);
  }

  async remove(id: string): Promise<boolean> {
    if (!isDeadLetterId(id)) return false;
    return (await this.client.xdel(INGEST_DEAD_LETTER_STREAM, id)) > 0;
  }

  count(): Promise<number> {
    return this.client.xlen(INGEST_DEAD_LETTER_STREAM);
  }
}
