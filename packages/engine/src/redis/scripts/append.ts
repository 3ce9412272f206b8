import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import { flatFields, type RawEntry } from '../stream-entries.js';

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

/**
 * A non-blocking read of a partition for a consumer of the group, clearing its wake-up flag in
 * the same step: any entry appended after it publishes a wake-up again. Returns XREADGROUP's reply.
 */
export const PARTITION_READ_SCRIPT = `
local stream, wake_flag = KEYS[1], KEYS[2]
local group, consumer, count = ARGV[1], ARGV[2], ARGV[3]

redis.call('DEL', wake_flag)
return redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, '>')
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbAppendOnce(stream: string, marker: string, ...args: (string | number)[]): Result<[number, string], Context>;
    sbClusterAppend(...args: (string | number)[]): Result<[number, string], Context>;
    sbPartitionRead(stream: string, wake: string, group: string, consumer: string, count: number): Result<[string, RawEntry[]][] | null, Context>;
  }
}

export function defineAppendScripts(client: Client): void {
  client.defineCommand('sbAppendOnce', { numberOfKeys: 2, lua: APPEND_ONCE_SCRIPT });
  client.defineCommand('sbClusterAppend', { lua: CLUSTER_APPEND_SCRIPT });
  client.defineCommand('sbPartitionRead', { numberOfKeys: 2, lua: PARTITION_READ_SCRIPT });
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

export interface PartitionReadInput {
  stream: string;
  wake: string;
  group: string;
  consumer: string;
  count: number;
}

export const runPartitionRead = (client: Client, { stream, wake, group, consumer, count }: PartitionReadInput): Promise<[string, RawEntry[]][] | null> =>
  client.sbPartitionRead(stream, wake, group, consumer, count);
