import { z } from 'zod';
import { isoTimestamp, jsonObject, nonEmptyString, tokenString } from './common.js';

/** The figures every analytics client sees (docs/protocol-analytics.md). Cluster-wide. */
export interface Stats {
  current_visitors: number;
  unique_today: number;
  total_events: number;
  letters_today: number;
  /** Unix seconds when the figures were read. */
  timestamp: number;
}

/** Window for `current_visitors`. */
export const CURRENT_VISITOR_WINDOW_MS = 5 * 60 * 1000;
/** The event type counted by `letters_today`. */
export const LETTER_EVENT_TYPE = 'letter_generated';

const KNOWN_FIELDS = new Set(['type', 'visitor_id', 'data', 'timestamp']);

/**
 * Types the `/ws/analytics` protocol itself uses, in either direction (and the greeting and
 * resume frames of the other raw endpoints, which clients may share a parser with). An event of
 * one of these types would reach clients as a frame the server never sent: they are refused at
 * ingest, whatever their case.
 */
export const RESERVED_EVENT_TYPES = [
  'initial_stats',
  'heartbeat',
  'pong',
  'ping',
  'error',
  'subscribed',
  'resumed',
  'connection',
  'refresh_stats',
  'subscribe',
] as const;
const RESERVED = new Set<string>(RESERVED_EVENT_TYPES);
const RESERVED_MESSAGE = `reserved for server frames (${RESERVED_EVENT_TYPES.join(', ')})`;

/** An analytics event type: a token that is not one of RESERVED_EVENT_TYPES. */
export const analyticsEventType = tokenString(64).refine((type) => !RESERVED.has(type.toLowerCase()), {
  error: RESERVED_MESSAGE,
});

/**
 * `POST /events` body: `{type, visitor_id, data?, timestamp?}`. Unknown extra fields are
 * kept, moved into `data`.
 */
export const analyticsIngestSchema = z
  .looseObject(
    {
      type: analyticsEventType,
      visitor_id: nonEmptyString(128),
      data: jsonObject.optional(),
      timestamp: isoTimestamp.optional(),
    },
    { error: 'expected a JSON object' },
  )
  .transform((body) => {
    const extras: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if (!KNOWN_FIELDS.has(key)) extras[key] = value;
    }
    return {
      type: body.type,
      visitor_id: body.visitor_id,
      timestamp: body.timestamp,
      data: { ...extras, ...(body.data ?? {}) },
    };
  });
export type AnalyticsIngest = z.output<typeof analyticsIngestSchema>;

/** An analytics event as the worker publishes it. */
export interface AnalyticsEvent {
  id: string;
  type: string;
  visitor_id: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Client → server frames on `/ws/analytics`. */
export const analyticsClientMessageSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('refresh_stats') }),
    z.object({ type: z.literal('ping') }),
    z.object({
      type: z.literal('subscribe'),
      events: z
        .array(z.union([z.literal('*'), tokenString(64)], { error: 'expected an event type or "*"' }), {
          error: 'expected an array of event types',
        })
        .max(64, { error: 'expected at most 64 event types' }),
    }),
  ],
  { error: 'unknown message type (expected refresh_stats, ping or subscribe)' },
);
export type AnalyticsClientMessage = z.output<typeof analyticsClientMessageSchema>;

// Frames are built by hand, key order fixed: `type` first, so a gateway can route a frame by
// reading its head, and the publish path appends `offset` without re-serializing.

export const statsFrame = (kind: 'initial_stats' | 'heartbeat', stats: Stats): string =>
  `{"type":${JSON.stringify(kind)},"data":${JSON.stringify(stats)}}`;

// Every interpolated value is JSON-encoded, ids and timestamps included: a frame is valid JSON
// with exactly these top-level fields, whatever the values hold.
export const analyticsEventFrame = (event: AnalyticsEvent): string =>
  `{"type":${JSON.stringify(event.type)},"id":${JSON.stringify(event.id)},"visitor_id":${JSON.stringify(event.visitor_id)},` +
  `"timestamp":${JSON.stringify(event.timestamp)},"data":${JSON.stringify(event.data)}}`;

export const pongFrame = (now = Date.now()): string =>
  `{"type":"pong","timestamp":${JSON.stringify(new Date(now).toISOString())}}`;

/**
 * `{"type":"error","message"}`; `request` (an extra field original clients ignore) names the
 * client message type it refuses, so a client waiting for that message's answer can stop waiting.
 */
export const errorFrame = (message: string, request?: string): string =>
  JSON.stringify(request === undefined ? { type: 'error', message } : { type: 'error', message, request });
