import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import { flatFields } from '../stream-entries.js';

/**
 * appendOnce (one Redis): XADD to the ingest stream unless the dedupe marker exists, then SET
 * the marker. Returns {1, stream id} when appended, {0, marker value} for a duplicate.
 * XADD runs before SET: Lua does not roll back, so a failing XADD leaves no marker behind.
 */
export const APPEND_ONCE_SCRIPT = `
local stream, marker = KEYS[1], KEYS[2]
local marker_ttl, marker_value = ARGV[1], ARGV[2]
-- ARGV[3..]: the entry's field/value pairs.

local existing = redis.call('GET', marker)
if existing then return {0, existing} end
local id = redis.call('XADD', stream, '*', unpack(ARGV, 3))
redis.call('SET', marker, marker_value, 'EX', marker_ttl)
return {1, id}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbAppendOnce(stream: string, marker: string, ...args: (string | number)[]): Result<[number, string], Context>;
  }
}

export function defineAppendOnceScript(client: Client): void {
  client.defineCommand('sbAppendOnce', { numberOfKeys: 2, lua: APPEND_ONCE_SCRIPT });
}

/** A marker that makes an append happen once, as stored. */
export interface AppendMarker {
  key: string;
  ttlS: number;
  value: string;
}

/** [1, stream id] when appended; [0, the first append's value] for a duplicate. */
export type AppendReply = [number, string];

export const runAppendOnce = (client: Client, stream: string, marker: AppendMarker, fields: Record<string, string>): Promise<AppendReply> =>
  client.sbAppendOnce(stream, marker.key, marker.ttlS, marker.value, ...flatFields(fields));
