import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import { CHANNEL_LUA } from './channel.js';

/**
 * position: the channel's epoch and latest offset, creating the epoch when it has none.
 * Returns {epoch, offset}.
 */
export const POSITION_SCRIPT = `${CHANNEL_LUA}
local position_key, history_key = KEYS[1], KEYS[2]
-- The epoch a channel without one starts.
local epoch_candidate = ARGV[1]

local epoch, offset = channel_position(position_key, history_key, epoch_candidate)
return {epoch, tostring(offset)}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbPosition(position: string, history: string, epoch: string): Result<[string, string], Context>;
  }
}

export function definePositionScript(client: Client): void {
  client.defineCommand('sbPosition', { numberOfKeys: 2, lua: POSITION_SCRIPT });
}

/** A channel's keys as stored, and the epoch it starts when it has none. */
export interface PositionInput {
  position: string;
  history: string;
  epoch: string;
}

export const runPosition = (client: Client, { position, history, epoch }: PositionInput): Promise<[string, string]> =>
  client.sbPosition(position, history, epoch);
