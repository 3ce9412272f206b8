import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import { flatFields } from '../stream-entries.js';
import type { AppendMarker, AppendReply } from './append-once.js';

/**
 * An append on a Redis Cluster, idempotent or not, that wakes the partition's readers. The
 * wake-up is published only when the flag was clear: readers clear it as they read
 * (PARTITION_READ_SCRIPT), so a busy partition costs one message per read rather than one per
 * entry. Returns {1, stream id}, or {0, first value} for a duplicate (nothing stored).
 */
export const CLUSTER_APPEND_SCRIPT = `
-- The partition's ingest stream, its wake-up flag, and the idempotency marker when there is one.
local stream, wake_flag, marker = KEYS[1], KEYS[2], KEYS[3]
local wake_channel, marker_ttl, marker_value = ARGV[1], ARGV[2], ARGV[3]
-- ARGV[4..]: the entry's field/value pairs.

if marker then
  local existing = redis.call('GET', marker)
  if existing then return {0, existing} end
end
local id = redis.call('XADD', stream, '*', unpack(ARGV, 4))
if marker then redis.call('SET', marker, marker_value, 'EX', marker_ttl) end
if redis.call('SET', wake_flag, '1', 'NX') then redis.call('SPUBLISH', wake_channel, '') end
return {1, id}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbClusterAppend(...args: (string | number)[]): Result<[number, string], Context>;
  }
}

export function defineClusterAppendScript(client: Client): void {
  client.defineCommand('sbClusterAppend', { lua: CLUSTER_APPEND_SCRIPT });
}

export interface ClusterAppendInput {
  stream: string;
  /** The wake-up flag's key, which is also the shard channel the wake-up goes out on. */
  wake: string;
  marker?: AppendMarker | undefined;
  fields: Record<string, string>;
}

export function runClusterAppend(client: Client, { stream, wake, marker, fields }: ClusterAppendInput): Promise<AppendReply> {
  const keys = marker === undefined ? [stream, wake] : [stream, wake, marker.key];
  return client.sbClusterAppend(keys.length, ...keys, wake, marker?.ttlS ?? 0, marker?.value ?? '', ...flatFields(fields));
}
