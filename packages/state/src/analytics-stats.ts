import {
  ANALYTICS_KEYS,
  CURRENT_VISITOR_WINDOW_MS,
  LETTER_EVENT_TYPE,
  utcDay,
  type Stats,
} from '@switchboard/protocol';
import type { Store, StoreOp } from '@switchboard/engine';

/** "Today" keys outlive their day by a day, so late readers near midnight still see them. */
const DAY_KEY_TTL_S = 2 * 24 * 60 * 60;

/**
 * The store mutations one analytics event causes (applied atomically by the worker's commit).
 * `now` is when the gateway accepted the event: it decides the UTC day and the visitor's
 * last-seen time.
 */
export function analyticsEventOps(event: { type: string; visitor_id: string }, now: number): StoreOp[] {
  const day = utcDay(now);
  const ops: StoreOp[] = [
    { op: 'incr', key: ANALYTICS_KEYS.totalEvents },
    { op: 'pfadd', key: ANALYTICS_KEYS.uniqueVisitors(day), member: event.visitor_id },
    { op: 'expire', key: ANALYTICS_KEYS.uniqueVisitors(day), seconds: DAY_KEY_TTL_S },
    { op: 'zadd', key: ANALYTICS_KEYS.recentVisitors, score: now, member: event.visitor_id },
  ];
  if (event.type === LETTER_EVENT_TYPE) {
    ops.push(
      { op: 'incr', key: ANALYTICS_KEYS.lettersGenerated(day) },
      { op: 'expire', key: ANALYTICS_KEYS.lettersGenerated(day), seconds: DAY_KEY_TTL_S },
    );
  }
  return ops;
}

/** Housekeeping for the heartbeat: forget visitors that left the current-visitor window. */
export function expireRecentVisitorsOp(now: number): StoreOp {
  return { op: 'zremrangebyscore', key: ANALYTICS_KEYS.recentVisitors, max: now - CURRENT_VISITOR_WINDOW_MS };
}

/** Reads the cluster-wide figures in one round trip. */
export async function readAnalyticsStats(engine: Store, now = Date.now()): Promise<Stats> {
  const day = utcDay(now);
  const [current, unique, total, letters] = await engine.read([
    { op: 'zcount', key: ANALYTICS_KEYS.recentVisitors, min: now - CURRENT_VISITOR_WINDOW_MS },
    { op: 'pfcount', key: ANALYTICS_KEYS.uniqueVisitors(day) },
    { op: 'get', key: ANALYTICS_KEYS.totalEvents },
    { op: 'get', key: ANALYTICS_KEYS.lettersGenerated(day) },
  ]);
  return {
    current_visitors: current ?? 0,
    unique_today: unique ?? 0,
    total_events: total ?? 0,
    letters_today: letters ?? 0,
    timestamp: Math.floor(now / 1000),
  };
}
