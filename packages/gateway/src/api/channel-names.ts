import { CHANNELS, ERROR_EVENTS, SOCKET_IO_MESSAGE, jobRoom, logsChannel, socketIoChannel, tokenString } from '@switchboard/protocol';
import { PRESENCE_CHANNELS } from '../presence/channels.js';

/**
 * A channel as the server API names it (`analytics`, `availability`, `errors`, `logs:<appId>`,
 * `jobs:<jobId>`), and where the engine keeps it. The error feed and the job rooms travel on the
 * Socket.IO namespace's channel: `keeps` picks their frames out of it (its offsets are the
 * namespace's, so a page of them is not contiguous).
 */
export interface ApiChannel {
  name: string;
  /** The engine channel (protocol `CHANNELS`, `logsChannel`, `socketIoChannel`). */
  channel: string;
  /** Whether a frame of `channel` belongs to this API channel; absent: every frame does. */
  keeps?: (frame: unknown) => boolean;
  /** Where its presence is kept (see presence/channels.ts). */
  presence: string;
}

const token = tokenString(128);
const ERROR_EVENT_NAMES: ReadonlySet<unknown> = new Set(Object.values(ERROR_EVENTS));

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** The broadcasts of a Socket.IO adapter frame: `[rooms, event]` of each. */
function broadcasts(frame: unknown): { rooms: unknown[]; event: unknown }[] {
  if (!isRecord(frame) || !isRecord(frame['data'])) return [];
  const data = frame['data'];
  const several = frame['type'] === SOCKET_IO_MESSAGE.broadcasts || frame['type'] === SOCKET_IO_MESSAGE.sharedBroadcasts;
  const parts: unknown[] = frame['type'] === SOCKET_IO_MESSAGE.broadcast ? [data] : several && Array.isArray(data['parts']) ? data['parts'] : [];
  return parts.filter(isRecord).map((part) => {
    const opts = isRecord(part['opts']) ? part['opts'] : {};
    const packet = isRecord(part['packet']) ? part['packet'] : {};
    // A part of a shared-arguments frame names its event itself.
    const event = 'event' in part ? part['event'] : Array.isArray(packet['data']) ? (packet['data'] as unknown[])[0] : undefined;
    return { rooms: Array.isArray(opts['rooms']) ? (opts['rooms'] as unknown[]) : [], event };
  });
}

/** The API channel of a name; undefined for a name the API does not know. */
export function apiChannel(name: string): ApiChannel | undefined {
  if (name === 'analytics') return { name, channel: CHANNELS.analytics, presence: PRESENCE_CHANNELS.analytics };
  if (name === 'availability') return { name, channel: CHANNELS.availability, presence: PRESENCE_CHANNELS.availability };
  if (name === 'errors') {
    const keeps = (frame: unknown) => broadcasts(frame).some((b) => ERROR_EVENT_NAMES.has(b.event));
    return { name, channel: socketIoChannel('/'), keeps, presence: PRESENCE_CHANNELS.errors };
  }
  const colon = name.indexOf(':');
  const [prefix, id] = colon === -1 ? [name, ''] : [name.slice(0, colon), name.slice(colon + 1)];
  if (!token.safeParse(id).success || id.trim() !== id) return undefined;
  if (prefix === 'logs') return { name, channel: logsChannel(id), presence: PRESENCE_CHANNELS.logs(id) };
  if (prefix === 'jobs') {
    const room = jobRoom(id);
    const keeps = (frame: unknown) => broadcasts(frame).some((b) => b.rooms.includes(room));
    return { name, channel: socketIoChannel('/'), keeps, presence: PRESENCE_CHANNELS.jobs(id) };
  }
  return undefined;
}

/** The names `apiChannel` knows, for error messages and the OpenAPI document. */
export const API_CHANNEL_NAMES = 'analytics, availability, errors, logs:<appId>, jobs:<jobId>';
