import type { AnalyticsEvent, Stats } from '@switchboard/protocol';
import { hasNumbers, isObject, isString, offsetOf, type JsonObject, type Parsed } from '../core/guards.js';

const STATS_FIELDS = ['current_visitors', 'unique_today', 'total_events', 'letters_today', 'timestamp'] as const;

/** An analytics event as received: the published event plus its channel offset (absent on old servers). */
export interface ReceivedAnalyticsEvent extends Omit<AnalyticsEvent, 'id'> {
  /** The ingest id (absent from servers that predate it). */
  id: string | undefined;
  offset: number | undefined;
}

export function readStats(frame: JsonObject): Parsed<Stats> {
  const data = frame['data'];
  if (!hasNumbers(data, STATS_FIELDS)) return { ok: false, error: `data must carry numeric ${STATS_FIELDS.join(', ')}` };
  const stats: Stats = {
    current_visitors: data['current_visitors'] as number,
    unique_today: data['unique_today'] as number,
    total_events: data['total_events'] as number,
    letters_today: data['letters_today'] as number,
    timestamp: data['timestamp'] as number,
  };
  return { ok: true, value: stats };
}

/** Any frame type that is not a control frame is an event of that type (docs/protocol-analytics.md). */
export function readAnalyticsEvent(frame: JsonObject & { type: string }): Parsed<ReceivedAnalyticsEvent> {
  const { type, visitor_id, timestamp, data, id } = frame;
  if (!isString(visitor_id)) return { ok: false, error: 'visitor_id must be a string' };
  if (!isString(timestamp)) return { ok: false, error: 'timestamp must be a string' };
  if (data !== undefined && !isObject(data)) return { ok: false, error: 'data must be an object' };
  return {
    ok: true,
    value: { type, id: isString(id) ? id : undefined, visitor_id, timestamp, data: data ?? {}, offset: offsetOf(frame) },
  };
}

export function readStringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every(isString) ? value : undefined;
}
