import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import type { RawEntry } from '../stream-entries.js';

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
    sbPartitionRead(stream: string, wake: string, group: string, consumer: string, count: number): Result<[string, RawEntry[]][] | null, Context>;
  }
}

export function definePartitionReadScript(client: Client): void {
  client.defineCommand('sbPartitionRead', { numberOfKeys: 2, lua: PARTITION_READ_SCRIPT });
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
