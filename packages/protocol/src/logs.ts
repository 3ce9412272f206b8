import { z } from 'zod';
import { epochMs, jsonObject, nonEmptyString, oneOrMany, tokenString } from './common.js';

/** A log line as `/ws/logs` clients receive it (docs/protocol-logs.md); key order as the original. */
export interface LogEntry {
  id: string;
  /** Unix milliseconds. */
  timestamp: number;
  level: string;
  message: string;
  metadata?: Record<string, unknown>;
  appId: string;
  userId: string;
}

/** Most entries one `POST /logs` (or one stream entry) may carry. */
export const LOG_BATCH_MAX_ENTRIES = 500;
/** Longest accepted `message`, in characters. */
export const LOG_MESSAGE_MAX_CHARS = 32_768;
/** `userId` of entries a producer sent without one. */
export const ANONYMOUS_USER_ID = 'anonymous';
/** Levels counted by the `errorRate` of PerformanceMetrics (compared lower-case). */
export const ERROR_LEVELS: ReadonlySet<string> = new Set(['error', 'fatal', 'critical']);

const appId = tokenString(128);
const level = tokenString(32).transform((v) => v.toLowerCase());

const entryFields = {
  appId,
  level,
  message: z
    .string({ error: 'expected a string' })
    .max(LOG_MESSAGE_MAX_CHARS, { error: `expected at most ${LOG_MESSAGE_MAX_CHARS} characters` }),
  userId: nonEmptyString(128).optional(),
  metadata: jsonObject.optional(),
  timestamp: epochMs.optional(),
};

/**
 * One entry; unknown extra fields are kept, moved into `metadata`. `withId` accepts the `id`
 * field the gateway assigned (stream bodies); on HTTP an `id` is just another extra field.
 */
const entrySchema = (withId: boolean) => {
  const known = new Set([...Object.keys(entryFields), ...(withId ? ['id'] : [])]);
  return z
    .looseObject(
      { ...entryFields, ...(withId ? { id: z.uuid({ error: 'expected a UUID' }).optional() } : {}) },
      { error: 'expected a JSON object' },
    )
    .transform((body) => {
      const extras: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(body)) if (!known.has(key)) extras[key] = value;
      const metadata = { ...extras, ...(body.metadata ?? {}) };
      return {
        ...('id' in body && typeof body.id === 'string' ? { id: body.id } : {}),
        appId: body.appId,
        level: body.level,
        message: body.message,
        userId: body.userId,
        timestamp: body.timestamp,
        metadata: Object.keys(metadata).length > 0 ? metadata : undefined,
      };
    });
};

/** A validated entry before the worker completes it (id, timestamp, userId). */
export interface LogInput {
  id?: string;
  appId: string;
  level: string;
  message: string;
  userId: string | undefined;
  timestamp: number | undefined;
  metadata: Record<string, unknown> | undefined;
}

/** `POST /logs` body: one entry or an array of at most LOG_BATCH_MAX_ENTRIES. */
export const logIngestSchema = oneOrMany(entrySchema(false), LOG_BATCH_MAX_ENTRIES, ['log entry', 'log entries']);
/** The body of a `logs` stream entry: the same, and each entry may carry its `id`. */
export const logStreamBodySchema = oneOrMany(entrySchema(true), LOG_BATCH_MAX_ENTRIES, ['log entry', 'log entries']);

/** The published entry, with `id`, `timestamp` and `userId` filled in. */
export const completeLogEntry = (input: LogInput, id: string, at: number): LogEntry => ({
  id,
  timestamp: input.timestamp ?? at,
  level: input.level,
  message: input.message,
  ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
  appId: input.appId,
  userId: input.userId ?? ANONYMOUS_USER_ID,
});

/** Body of a `logs_clear` stream entry (a client's `clear`). */
export const logClearBodySchema = z.object({ appId }, { error: 'expected a JSON object' });

/** `{"type":"filter"}` filters; all optional, `level: []` means every level. */
export const logFilterSchema = z.object(
  {
    level: z
      .array(level, { error: 'expected an array of levels' })
      .max(32, { error: 'expected at most 32 levels' })
      .optional(),
    startTime: z.number({ error: 'expected unix milliseconds' }).finite().optional(),
    endTime: z.number({ error: 'expected unix milliseconds' }).finite().optional(),
  },
  { error: 'expected an object' },
);
export type LogFilter = z.output<typeof logFilterSchema>;

/** Client → server frames on `/ws/logs`. */
export const logsClientMessageSchema = z.discriminatedUnion(
  'type',
  [
    z.object({
      type: z.literal('auth'),
      data: z.object(
        {
          userId: nonEmptyString(128),
          appId,
          token: z.string({ error: 'expected a string' }).max(8192, { error: 'expected at most 8192 characters' }).optional(),
          // Resume: the epoch and last offset of a previous connection (checked by the gateway).
          epoch: z.string({ error: 'expected a string' }).max(64, { error: 'expected at most 64 characters' }).optional(),
          since: z.number({ error: 'expected a non-negative integer' }).int({ error: 'expected a non-negative integer' }).min(0, { error: 'expected a non-negative integer' }).optional(),
          // With an older epoch: replay the channel's new epoch in full when its history holds it all.
          acrossEpochs: z.boolean({ error: 'expected a boolean' }).optional(),
          // The filter to apply from the start, to replayed entries too.
          filters: logFilterSchema.optional(),
        },
        { error: 'expected an object' },
      ),
    }),
    z.object({ type: z.literal('filter'), filters: logFilterSchema.optional() }),
    z.object({ type: z.literal('request_history') }),
    z.object({ type: z.literal('clear') }),
    z.object({ type: z.literal('request_metrics') }),
    z.object({ type: z.literal('ping') }),
  ],
  { error: 'unknown message type (expected auth, filter, request_history, clear, request_metrics or ping)' },
);
export type LogsClientMessage = z.output<typeof logsClientMessageSchema>;

export { matchesLogFilter } from './log-filter.js';

// Frames: built by hand, `type` first (see analytics.ts).

const LOGS_HEAD = '{"type":"logs","payload":';

/** `{"type":"logs","payload":[...]}` from entries that are already JSON. */
export const logsFrame = (entriesJson: readonly string[]): string => `${LOGS_HEAD}[${entriesJson.join(',')}]}`;

/**
 * The payload array (JSON text) of a `logs` frame built by logsFrame, with or without the
 * `offset` the publisher appended; undefined for any other frame.
 */
export function logsFramePayload(frame: string): string | undefined {
  if (!frame.startsWith(LOGS_HEAD)) return undefined;
  const end = frame.lastIndexOf(']');
  return end < LOGS_HEAD.length ? undefined : frame.slice(LOGS_HEAD.length, end + 1);
}

export const authSuccessFrame = (appId: string, userId: string): string =>
  JSON.stringify({ type: 'auth_success', payload: { appId, userId } });

export const authErrorFrame = (message: string): string => JSON.stringify({ type: 'auth_error', payload: { message } });

export const clearedFrame = (appId: string): string => JSON.stringify({ type: 'cleared', payload: { appId } });

/** Joins the payload arrays (JSON text) of several `logs` frames into one array. */
export function joinLogPayloads(payloads: readonly string[]): string {
  const inner = payloads.map((p) => p.slice(1, -1).trim()).filter((p) => p.length > 0);
  return `[${inner.join(',')}]`;
}

/**
 * What a gateway sends its clients: one batch of live entries, with the channel offsets it
 * covers (`fromOffset` to `offset`) so a client can detect a gap.
 */
export const logsBatchFrame = (payload: string, fromOffset: number, offset: number): string =>
  `${LOGS_HEAD}${payload},"fromOffset":${fromOffset},"offset":${offset}}`;
