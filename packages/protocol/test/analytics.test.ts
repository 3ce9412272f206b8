import { describe, expect, it } from 'vitest';
import {
  analyticsClientMessageSchema,
  analyticsEventFrame,
  analyticsIngestSchema,
  pongFrame,
  statsFrame,
  type AnalyticsEvent,
  type Stats,
} from '../src/analytics.js';
import { validate } from '../src/errors.js';

const ingest = (body: unknown) => validate(analyticsIngestSchema, body);

/** Unwraps a successful validation, failing the test with the error otherwise. */
function ok<T>(result: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!result.ok) throw new Error(`expected a valid body, got: ${result.error}`);
  return result.value;
}

describe('analyticsIngestSchema', () => {
  it('accepts a minimal body and gives it an empty data object', () => {
    expect(ok(ingest({ type: 'page_view', visitor_id: 'v-1' }))).toEqual({
      type: 'page_view',
      visitor_id: 'v-1',
      timestamp: undefined,
      data: {},
    });
  });

  it('keeps data and trims type and visitor_id', () => {
    const value = ok(ingest({ type: ' letter_generated ', visitor_id: '  abc  ', data: { page: '/cv', n: 2 } }));
    expect(value.type).toBe('letter_generated');
    expect(value.visitor_id).toBe('abc');
    expect(value.data).toEqual({ page: '/cv', n: 2 });
  });

  it('accepts the characters allowed in channel names in type', () => {
    expect(ok(ingest({ type: 'app.page_view:v2-beta', visitor_id: 'v' })).type).toBe('app.page_view:v2-beta');
  });

  it('moves unknown extra fields into data', () => {
    const value = ok(ingest({ type: 'page_view', visitor_id: 'v', page: '/home', referrer: null, nested: { a: [1] } }));
    expect(value.data).toEqual({ page: '/home', referrer: null, nested: { a: [1] } });
    expect(Object.keys(value).sort()).toEqual(['data', 'timestamp', 'type', 'visitor_id']);
  });

  it('merges extra fields with data, data winning on a clash', () => {
    const value = ok(ingest({ type: 'page_view', visitor_id: 'v', data: { page: '/from-data' }, page: '/extra', other: 1 }));
    expect(value.data).toEqual({ page: '/from-data', other: 1 });
  });

  it('normalizes an ISO-8601 timestamp with an offset to UTC ISO', () => {
    const value = ok(ingest({ type: 'page_view', visitor_id: 'v', timestamp: '2024-03-01T10:00:00+02:00' }));
    expect(value.timestamp).toBe('2024-03-01T08:00:00.000Z');
  });

  it('normalizes a unix-milliseconds timestamp to ISO', () => {
    const ms = Date.UTC(2025, 0, 15, 12, 30, 45, 123);
    const value = ok(ingest({ type: 'page_view', visitor_id: 'v', timestamp: ms }));
    expect(value.timestamp).toBe('2025-01-15T12:30:45.123Z');
  });

  it('accepts a timestamp a little in the future (clock skew)', () => {
    const soon = Date.now() + 60 * 60 * 1000;
    expect(ok(ingest({ type: 'page_view', visitor_id: 'v', timestamp: soon })).timestamp).toBe(new Date(soon).toISOString());
  });

  const TIMESTAMP_ERROR = 'timestamp: expected an ISO-8601 date or unix milliseconds';
  const invalid: [string, unknown, string][] = [
    ['an array body', [], 'body: expected a JSON object'],
    ['a null body', null, 'body: expected a JSON object'],
    ['a string body', 'page_view', 'body: expected a JSON object'],
    ['a missing type', { visitor_id: 'v' }, 'type: expected a non-empty string'],
    ['an empty type', { type: '', visitor_id: 'v' }, 'type: expected a non-empty string'],
    ['a blank type', { type: '   ', visitor_id: 'v' }, 'type: expected a non-empty string'],
    ['a numeric type', { type: 7, visitor_id: 'v' }, 'type: expected a non-empty string'],
    ['a type with a space', { type: 'page view', visitor_id: 'v' }, "type: expected letters, digits, '_', '-', '.' or ':'"],
    ['a type with a wildcard', { type: 'page*', visitor_id: 'v' }, "type: expected letters, digits, '_', '-', '.' or ':'"],
    ['a type over 64 characters', { type: 'x'.repeat(65), visitor_id: 'v' }, 'type: expected at most 64 characters'],
    ['a missing visitor_id', { type: 'page_view' }, 'visitor_id: expected a non-empty string'],
    ['a blank visitor_id', { type: 'page_view', visitor_id: '  ' }, 'visitor_id: expected a non-empty string'],
    ['a numeric visitor_id', { type: 'page_view', visitor_id: 42 }, 'visitor_id: expected a non-empty string'],
    ['a visitor_id over 128 characters', { type: 'page_view', visitor_id: 'v'.repeat(129) }, 'visitor_id: expected at most 128 characters'],
    ['an array data', { type: 'page_view', visitor_id: 'v', data: [1] }, 'data: expected an object'],
    ['a null data', { type: 'page_view', visitor_id: 'v', data: null }, 'data: expected an object'],
    ['a string data', { type: 'page_view', visitor_id: 'v', data: 'x' }, 'data: expected an object'],
    ['a boolean timestamp', { type: 'page_view', visitor_id: 'v', timestamp: true }, TIMESTAMP_ERROR],
    ['an unparseable timestamp', { type: 'page_view', visitor_id: 'v', timestamp: 'yesterday' }, TIMESTAMP_ERROR],
    ['a timestamp in seconds', { type: 'page_view', visitor_id: 'v', timestamp: 1_700_000_000 }, TIMESTAMP_ERROR],
    ['a timestamp before 2000', { type: 'page_view', visitor_id: 'v', timestamp: '1999-12-31T23:59:59Z' }, TIMESTAMP_ERROR],
    ['a timestamp over a day ahead', { type: 'page_view', visitor_id: 'v', timestamp: Date.now() + 2 * 86_400_000 }, TIMESTAMP_ERROR],
  ];

  it.each(invalid)('refuses %s', (_name, body, error) => {
    expect(ingest(body)).toEqual({ ok: false, error });
  });

  it('accepts type and visitor_id exactly at their length limits', () => {
    const value = ok(ingest({ type: 'x'.repeat(64), visitor_id: 'v'.repeat(128) }));
    expect(value.type).toHaveLength(64);
    expect(value.visitor_id).toHaveLength(128);
  });
});

describe('analyticsClientMessageSchema', () => {
  const message = (body: unknown) => validate(analyticsClientMessageSchema, body);

  it('accepts refresh_stats and ping', () => {
    expect(message({ type: 'refresh_stats' })).toEqual({ ok: true, value: { type: 'refresh_stats' } });
    expect(message({ type: 'ping' })).toEqual({ ok: true, value: { type: 'ping' } });
  });

  it('accepts subscribe with event types, with "*" and with an empty list', () => {
    expect(message({ type: 'subscribe', events: ['page_view', 'letter_generated'] })).toEqual({
      ok: true,
      value: { type: 'subscribe', events: ['page_view', 'letter_generated'] },
    });
    expect(message({ type: 'subscribe', events: ['*'] })).toEqual({ ok: true, value: { type: 'subscribe', events: ['*'] } });
    expect(message({ type: 'subscribe', events: [] })).toEqual({ ok: true, value: { type: 'subscribe', events: [] } });
  });

  it('accepts up to 64 event types', () => {
    const events = Array.from({ length: 64 }, (_, i) => `e${i}`);
    expect(message({ type: 'subscribe', events }).ok).toBe(true);
  });

  const UNKNOWN = 'unknown message type (expected refresh_stats, ping or subscribe)';
  const invalid: [string, unknown, string][] = [
    ['an unknown type', { type: 'pong' }, `type: ${UNKNOWN}`],
    ['a missing type', {}, `type: ${UNKNOWN}`],
    ['a non-object', null, `body: ${UNKNOWN}`],
    ['subscribe without events', { type: 'subscribe' }, 'events: expected an array of event types'],
    ['subscribe with a string', { type: 'subscribe', events: 'page_view' }, 'events: expected an array of event types'],
    ['subscribe with a number in the list', { type: 'subscribe', events: ['page_view', 3] }, 'events.1: expected an event type or "*"'],
    ['subscribe with a bad event name', { type: 'subscribe', events: ['page view'] }, "events.0: expected letters, digits, '_', '-', '.' or ':'"],
    ['subscribe with 65 event types', { type: 'subscribe', events: Array.from({ length: 65 }, (_, i) => `e${i}`) }, 'events: expected at most 64 event types'],
  ];

  it.each(invalid)('refuses %s', (_name, body, error) => {
    expect(message(body)).toEqual({ ok: false, error });
  });
});

describe('frames', () => {
  const stats: Stats = { current_visitors: 3, unique_today: 10, total_events: 42, letters_today: 1, timestamp: 1_763_000_000 };

  it.each(['initial_stats', 'heartbeat'] as const)('statsFrame(%s) is valid JSON with type first', (kind) => {
    const frame = statsFrame(kind, stats);
    expect(JSON.parse(frame)).toEqual({ type: kind, data: stats });
    expect(frame.startsWith(`{"type":"${kind}",`)).toBe(true);
  });

  it('analyticsEventFrame is valid JSON with the event type first and escapes user strings', () => {
    const event: AnalyticsEvent = {
      id: '01890a5d-ac96-774b-bcce-b302099a8057',
      type: 'page_view',
      visitor_id: 'vis"itor\\\n',
      timestamp: '2025-01-15T12:30:45.123Z',
      data: { page: '/a"b', nested: { list: [1, null, 'x'] } },
    };
    const frame = analyticsEventFrame(event);
    expect(JSON.parse(frame)).toEqual(event);
    expect(Object.keys(JSON.parse(frame) as object)[0]).toBe('type');
    expect(frame.startsWith('{"type":"page_view","id":"01890a5d-ac96-774b-bcce-b302099a8057",')).toBe(true);
  });

  it('pongFrame is valid JSON with type first and the given time as ISO', () => {
    const now = Date.UTC(2025, 5, 1, 8, 0, 0, 5);
    const frame = pongFrame(now);
    expect(JSON.parse(frame)).toEqual({ type: 'pong', timestamp: '2025-06-01T08:00:00.005Z' });
    expect(frame.startsWith('{"type":"pong",')).toBe(true);
  });

  it('pongFrame defaults to the current time', () => {
    const before = Date.now();
    const parsed = JSON.parse(pongFrame()) as { timestamp: string };
    const at = Date.parse(parsed.timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});
