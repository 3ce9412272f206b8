import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import type { RawEntry } from '../stream-entries.js';
import { CHANNEL_LUA } from './channel.js';
import type { PositionInput } from './position.js';

/**
 * history: the channel's position and, when the epoch matches and `since` is not past the
 * latest offset nor more than `size` (HISTORY_SIZE) frames behind it, the history entries after
 * `since` (at most latest - since of them). The history may hold a few more than `size` frames
 * (it is trimmed approximately): they are never read, so a client gets what the documented size
 * promises, no more. With `across` = '1', a client's epoch that is not the channel's reads the
 * channel's epoch from its start (as `since` 0).
 * Returns {epoch, offset} or {epoch, offset, entries newest first}.
 */
export const HISTORY_SCRIPT = `${CHANNEL_LUA}
local position_key, history_key = KEYS[1], KEYS[2]
-- The epoch a channel without one starts; the client's epoch; since (a whole number >= 0);
-- '1' to read another epoch's client from the channel's epoch start; the history size.
local epoch_candidate, client_epoch, since_arg, across, size = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local epoch, offset = channel_position(position_key, history_key, epoch_candidate)
local since = tonumber(since_arg)
if epoch ~= client_epoch then
  if across ~= '1' then return {epoch, tostring(offset)} end
  since = 0
end
if since >= offset or offset - since > size then return {epoch, tostring(offset)} end
-- The newest entries, newest first: one per offset, the latest one last written (an entry's id
-- does not say its offset alone: see BATCH_CHANNELS_LUA). The caller checks they follow since.
return {epoch, tostring(offset), redis.call('XREVRANGE', history_key, '+', '-', 'COUNT', offset - since)}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbHistory(
      position: string, history: string, epoch: string, clientEpoch: string, since: string, across: string, size: string,
    ): Result<[string, string, RawEntry[]?], Context>;
  }
}

export function defineHistoryScript(client: Client): void {
  client.defineCommand('sbHistory', { numberOfKeys: 2, lua: HISTORY_SCRIPT });
}

export interface HistoryInput extends PositionInput {
  clientEpoch: string;
  /** A whole number >= 0. */
  since: number;
  /** Another epoch's client reads the channel's epoch from its start. */
  acrossEpochs: boolean;
  /** HISTORY_SIZE: a client further behind than this is not served from history. */
  size: number;
}

export const runHistory = (client: Client, { position, history, epoch, clientEpoch, since, acrossEpochs, size }: HistoryInput): Promise<[string, string, RawEntry[]?]> =>
  client.sbHistory(position, history, epoch, clientEpoch, String(since), acrossEpochs ? '1' : '0', String(size));
