import type { LogEntry, PerformanceMetrics } from '@switchboard/protocol';
import { hasNumbers, isNumber, isObject, isString, type Parsed } from '../core/guards.js';

export function readLogEntries(payload: unknown): Parsed<LogEntry[]> {
  if (!Array.isArray(payload)) return { ok: false, error: 'payload must be an array of log entries' };
  const entries: LogEntry[] = [];
  for (const [index, item] of payload.entries()) {
    if (!isObject(item)) return { ok: false, error: `payload[${index}] must be an object` };
    const { id, timestamp, level, message, metadata, appId, userId } = item;
    if (!isString(id) || !isNumber(timestamp) || !isString(level) || !isString(message) || !isString(appId) || !isString(userId)) {
      return { ok: false, error: `payload[${index}] must have id, timestamp (ms), level, message, appId and userId` };
    }
    if (metadata !== undefined && !isObject(metadata)) return { ok: false, error: `payload[${index}].metadata must be an object` };
    entries.push({ id, timestamp, level, message, ...(metadata !== undefined ? { metadata } : {}), appId, userId });
  }
  return { ok: true, value: entries };
}

const triple = ['used', 'free', 'total'] as const;

export function readMetrics(payload: unknown): Parsed<PerformanceMetrics> {
  const valid =
    hasNumbers(payload, ['timestamp', 'activeConnections', 'messageRate', 'errorRate']) &&
    hasNumbers(payload['cpu'], ['usage', 'cores']) &&
    hasNumbers(payload['memory'], triple) &&
    hasNumbers(payload['disk'], triple) &&
    hasNumbers(payload['network'], ['bytesReceived', 'bytesSent', 'connections']);
  return valid ? { ok: true, value: payload as unknown as PerformanceMetrics } : { ok: false, error: 'payload is not PerformanceMetrics' };
}
