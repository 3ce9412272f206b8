import { ERROR_LEVELS, LOGS_KEYS } from '@switchboard/protocol';
import type { Store, StoreOp } from '@switchboard/engine';

/** Per-second rate counters outlive the rate window comfortably, then expire. */
const RATE_KEY_TTL_S = 120;
/** `messageRate` and `errorRate` are averaged over this many whole seconds. */
export const LOG_RATE_WINDOW_S = 10;

/**
 * Appends entries (JSON, oldest first) to an app's history and caps it at `limit`: LPUSH puts
 * the last one at the head, so the list reads newest first and LTRIM keeps the newest.
 */
export const appendLogHistoryOps = (appId: string, entriesJson: string[], limit: number): StoreOp[] => [
  { op: 'lpush', key: LOGS_KEYS.history(appId), values: entriesJson },
  { op: 'ltrim', key: LOGS_KEYS.history(appId), start: 0, stop: limit - 1 },
];

export const clearLogHistoryOps = (appId: string): StoreOp[] => [{ op: 'del', key: LOGS_KEYS.history(appId) }];

/** Counts processed entries (and error-level ones) in the second `at` falls in. */
export function logRateOps(levels: string[], at: number): StoreOp[] {
  const second = Math.floor(at / 1000);
  const errors = levels.filter((level) => ERROR_LEVELS.has(level.toLowerCase())).length;
  const ops: StoreOp[] = [
    { op: 'incr', key: LOGS_KEYS.messages(second), by: levels.length },
    { op: 'expire', key: LOGS_KEYS.messages(second), seconds: RATE_KEY_TTL_S },
  ];
  if (errors > 0) {
    ops.push(
      { op: 'incr', key: LOGS_KEYS.errors(second), by: errors },
      { op: 'expire', key: LOGS_KEYS.errors(second), seconds: RATE_KEY_TTL_S },
    );
  }
  return ops;
}

/** The newest `limit` entries of an app (JSON text), oldest first, as clients receive them. */
export async function readLogHistory(engine: Store, appId: string, limit: number): Promise<string[]> {
  const [newestFirst = []] = await engine.readStrings([{ op: 'lrange', key: LOGS_KEYS.history(appId), start: 0, stop: limit - 1 }]);
  return newestFirst.reverse();
}

/** Entries and error entries per second over the last LOG_RATE_WINDOW_S whole seconds. */
export async function readLogRates(engine: Store, now: number): Promise<{ messageRate: number; errorRate: number }> {
  const current = Math.floor(now / 1000);
  const seconds = Array.from({ length: LOG_RATE_WINDOW_S }, (_, i) => current - 1 - i);
  const counts = await engine.read([
    ...seconds.map((s) => ({ op: 'get' as const, key: LOGS_KEYS.messages(s) })),
    ...seconds.map((s) => ({ op: 'get' as const, key: LOGS_KEYS.errors(s) })),
  ]);
  const sum = (values: number[]) => values.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    messageRate: round(sum(counts.slice(0, LOG_RATE_WINDOW_S)) / LOG_RATE_WINDOW_S),
    errorRate: round(sum(counts.slice(LOG_RATE_WINDOW_S)) / LOG_RATE_WINDOW_S),
  };
}
