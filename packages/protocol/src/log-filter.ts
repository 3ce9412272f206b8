import type { LogEntry, LogFilter } from './logs.js';

/**
 * Whether a log entry passes a filter (no filter: everything passes). A module of its own, with no
 * runtime import, so that browser clients use the server's rule without bundling the validators:
 * `@switchboard/protocol/log-filter`.
 */
export function matchesLogFilter(entry: Pick<LogEntry, 'level' | 'timestamp'>, filter: LogFilter | undefined): boolean {
  if (filter === undefined) return true;
  if (filter.level !== undefined && filter.level.length > 0 && !filter.level.includes(entry.level.toLowerCase())) return false;
  if (filter.startTime !== undefined && entry.timestamp < filter.startTime) return false;
  if (filter.endTime !== undefined && entry.timestamp > filter.endTime) return false;
  return true;
}
