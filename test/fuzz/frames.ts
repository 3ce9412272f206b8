import { RESERVED_EVENT_TYPES } from '@switchboard/protocol';

/**
 * What a server frame may look like on each raw endpoint: a frame a client receives is valid
 * JSON, and either one of the server's own frames with the server's shape, or a producer's
 * event with the event shape. A producer's value in a server frame's place is a forgery.
 */
export type Endpoint = 'analytics' | 'availability' | 'logs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATS = ['current_visitors', 'unique_today', 'total_events', 'letters_today', 'timestamp'];
const RESERVED = new Set<string>(RESERVED_EVENT_TYPES);
/** Fields the delivery layer may add to any frame. */
const DELIVERY = ['offset', 'epoch', 'fromOffset'];

type Frame = Record<string, unknown>;
const isObject = (v: unknown): v is Frame => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Problem with the frame's top-level keys: anything outside `allowed` (and delivery fields). */
function extraKeys(frame: Frame, allowed: string[]): string | undefined {
  const extra = Object.keys(frame).filter((k) => !allowed.includes(k) && !DELIVERY.includes(k));
  return extra.length > 0 ? `unexpected fields ${extra.join(',')} on ${String(frame['type'])}` : undefined;
}

function statsProblem(frame: Frame): string | undefined {
  const data = frame['data'];
  if (!isObject(data)) return 'stats without data';
  const keys = Object.keys(data).sort();
  if (keys.join() !== [...STATS].sort().join() || !STATS.every((k) => Number.isInteger(data[k]))) return 'stats of the wrong shape';
  return extraKeys(frame, ['type', 'data']);
}

/** Frames only the server sends, shared by the raw endpoints. */
function commonProblem(frame: Frame): string | undefined | null {
  switch (frame['type']) {
    case 'pong':
    case 'ping':
      return typeof frame['timestamp'] === 'string' ? extraKeys(frame, ['type', 'timestamp']) : 'pong without timestamp';
    case 'error':
      return typeof frame['message'] === 'string' ? extraKeys(frame, ['type', 'message', 'request']) : 'error without message';
    case 'resumed':
      return extraKeys(frame, ['type', 'recovered', 'epoch', 'count', 'offset']);
    default:
      return null;
  }
}

function analyticsProblem(frame: Frame): string | undefined {
  const common = commonProblem(frame);
  if (common !== null) return common;
  const type = String(frame['type']);
  switch (type) {
    case 'initial_stats':
    case 'heartbeat':
      return statsProblem(frame);
    case 'subscribed':
      return Array.isArray(frame['events']) ? extraKeys(frame, ['type', 'events']) : 'subscribed without events';
  }
  if (RESERVED.has(type.toLowerCase())) return `event of the reserved type ${type}`;
  if (typeof frame['id'] !== 'string' || !UUID.test(frame['id'])) return 'event without a UUID id';
  if (typeof frame['visitor_id'] !== 'string' || typeof frame['timestamp'] !== 'string' || !isObject(frame['data'])) return 'event of the wrong shape';
  return extraKeys(frame, ['type', 'id', 'visitor_id', 'timestamp', 'data']);
}

function availabilityProblem(frame: Frame): string | undefined {
  const common = commonProblem(frame);
  if (common !== null) return common;
  switch (frame['type']) {
    case 'connection':
      return extraKeys(frame, ['type', 'clientId', 'message', 'timestamp']);
    case 'tour.availability.low':
      if (typeof frame['id'] !== 'string' || !UUID.test(frame['id'])) return 'event without a UUID id';
      return isObject(frame['data']) ? extraKeys(frame, ['type', 'id', 'data', 'timestamp']) : 'event without data';
    default:
      return `unknown frame type ${String(frame['type'])}`;
  }
}

function logEntryProblem(entry: unknown): string | undefined {
  if (!isObject(entry)) return 'log entry is not an object';
  if (typeof entry['id'] !== 'string' || !UUID.test(entry['id'])) return 'log entry without a UUID id';
  if (typeof entry['timestamp'] !== 'number' || typeof entry['level'] !== 'string' || typeof entry['message'] !== 'string') return 'log entry of the wrong shape';
  const extra = Object.keys(entry).filter((k) => !['id', 'timestamp', 'level', 'message', 'metadata', 'appId', 'userId'].includes(k));
  return extra.length > 0 ? `log entry with fields ${extra.join(',')}` : undefined;
}

function logsProblem(frame: Frame): string | undefined {
  const common = commonProblem(frame);
  if (common !== null) return common;
  switch (frame['type']) {
    case 'auth_success':
    case 'auth_error':
    case 'cleared':
    case 'metrics':
      return isObject(frame['payload']) ? extraKeys(frame, ['type', 'payload']) : `${String(frame['type'])} without payload`;
    case 'logs': {
      const payload = frame['payload'];
      if (!Array.isArray(payload)) return 'logs without payload';
      for (const entry of payload) {
        const problem = logEntryProblem(entry);
        if (problem !== undefined) return problem;
      }
      return extraKeys(frame, ['type', 'payload']);
    }
    default:
      return `unknown frame type ${String(frame['type'])}`;
  }
}

/** Why a frame received on `endpoint` is not one the server may send; undefined when it is. */
export function frameProblem(endpoint: Endpoint, text: string): string | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return 'invalid JSON';
  }
  if (!isObject(frame) || typeof frame['type'] !== 'string') return 'not an object with a type';
  if (endpoint === 'analytics') return analyticsProblem(frame);
  if (endpoint === 'availability') return availabilityProblem(frame);
  return logsProblem(frame);
}

/** An `ErrorEventRecord` as Socket.IO clients receive it. */
export function errorRecordProblem(record: unknown): string | undefined {
  if (!isObject(record)) return 'record is not an object';
  const keys = Object.keys(record).sort().join();
  if (keys !== ['createdAt', 'id', 'level', 'message', 'metadata', 'method', 'path', 'service', 'stack'].join()) return `record fields ${keys}`;
  if (typeof record['id'] !== 'string' || !UUID.test(record['id'])) return 'record without a UUID id';
  return undefined;
}
