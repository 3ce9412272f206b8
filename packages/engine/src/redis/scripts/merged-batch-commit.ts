import type { MergedWrites } from '../commit/merge.js';
import { BATCH_CHANNELS_LUA, BATCH_HEAD_LUA, ORDER_LUA, batchHeadArgs, keyTable, type BatchHead } from './batch-commit.js';
import { scriptFrame, type ScriptCall, type ScriptPublish } from './commit.js';

/**
 * merged batch commit: the fast path of a batch, for when every entry applies. Its writes come
 * merged (`mergeWrites`), so the script runs a few commands for the whole batch instead of each
 * entry's ops. It checks first, and writes nothing when a check fails: every entry must still be
 * pending for this consumer (one XPENDING) and every key must hold the type its writes need
 * (one TYPE per key); otherwise it answers {'split'} and the caller runs the batch entry by
 * entry (`BATCH_COMMIT_SCRIPT`), where a failing entry is refused alone.
 * Then, as the per-entry script: each channel's position advanced by its frame count with one
 * HINCRBY, the frames appended to the history (trimmed once per channel) and
 * published in batch order, in one message per channel, and one XACK for the batch, last.
 *
 * The order of KEYS and ARGV is written down once, in `mergedBatchScriptCall` below, and named
 * at the top of the script. Returns {'wait'} (see `ORDER_LUA`), {'split'}, or one reply per entry: {1, offset of each frame...}.
 */
export const MERGED_BATCH_COMMIT_SCRIPT = `${ORDER_LUA}${BATCH_CHANNELS_LUA}${BATCH_HEAD_LUA}-- ARGV[12..]: the type check count, per check (key index, type); the command count, per
-- command (name, key index, argument count, arguments...); the channel count, per channel
-- (pub/sub name, position key index, history key index); then three lists, each one argument
-- of comma-separated items: the entries' stream ids, each entry's frame count, each frame's
-- channel number (1-based, in the channel list); then the frames, one argument each, in entry
-- order. Per entry only its frame travels as an argument of its own: each argument costs the
-- worker far more to encode than a split costs here.
local COMMANDS = {INCRBY = true, PFADD = true, ZADD = true, ZREMRANGEBYSCORE = true, EXPIRE = true, SET = true, LPUSH = true, LTRIM = true, DEL = true}
local function malformed(what) return redis.error_reply('ERR commit refused: malformed batch (' .. what .. ')') end

local i = 12
local check_count = tonumber(ARGV[i])
local checks_at = i + 1
i = checks_at + 2 * check_count
local command_count = tonumber(ARGV[i])
local commands_at = i + 1
i = commands_at
for c = 1, command_count do
  if not COMMANDS[ARGV[i]] then return redis.error_reply('ERR commit refused: unknown command ' .. tostring(ARGV[i])) end
  i = i + 3 + tonumber(ARGV[i + 2])
end
local channel_count = tonumber(ARGV[i])
local channels_at = i + 1
i = channels_at + 3 * channel_count
local ids, frame_counts, frame_channels = {}, {}, {}
for id in string.gmatch(ARGV[i], '[^,]+') do ids[#ids + 1] = id end
for n in string.gmatch(ARGV[i + 1], '%d+') do frame_counts[#frame_counts + 1] = tonumber(n) end
for n in string.gmatch(ARGV[i + 2], '%d+') do frame_channels[#frame_channels + 1] = tonumber(n) end
local frames_at = i + 3
if #ids ~= count or #frame_counts ~= count then return malformed('entries') end
if #ARGV ~= frames_at - 1 + #frame_channels then return malformed('frames') end

-- Checks: nothing is written unless all pass.
if must_wait(stream, group, consumer, first_id, order_wait_ms, alive_prefix) then return {'wait'} end
local owned = {}
for _, p in ipairs(redis.call('XPENDING', stream, group, first_id, last_id, count + 1000, consumer)) do owned[p[1]] = true end
for e = 1, count do
  if not owned[ids[e]] then return {'split'} end
end
local function holds(key, wanted)
  local t = redis.call('TYPE', key).ok
  return t == 'none' or t == wanted
end
for c = 0, check_count - 1 do
  if not holds(KEYS[tonumber(ARGV[checks_at + 2 * c])], ARGV[checks_at + 2 * c + 1]) then return {'split'} end
end
local channels, order, numbered = {}, {}, {}
for c = 1, channel_count do
  local at = channels_at + 3 * (c - 1)
  local position_key = KEYS[tonumber(ARGV[at + 1])]
  local channel = {name = ARGV[at], history = KEYS[tonumber(ARGV[at + 2])], frames = 0}
  if position_key == nil or channel.history == nil then return malformed('channel ' .. c) end
  if not holds(position_key, 'hash') or not holds(channel.history, 'stream') then return {'split'} end
  channels[position_key] = channel
  order[c] = position_key
  numbered[c] = channel
end
for _, c in ipairs(frame_channels) do
  local channel = numbered[c]
  if channel == nil then return malformed('frame channel') end
  channel.frames = channel.frames + 1
end

-- Writes: nothing below can fail on what was checked above.
advance_channels(channels, order, epoch_candidate)
i = commands_at
for c = 1, command_count do
  local argc = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + argc))
  i = i + 3 + argc
end
local replies, f = {}, 0
for e = 1, count do
  local reply = {1}
  for _ = 1, frame_counts[e] do
    f = f + 1
    reply[#reply + 1] = publish_next(numbered[frame_channels[f]], ARGV[frames_at + f - 1])
  end
  replies[e] = reply
end
settle_channels(channels, order, history_size, history_ttl, publish_command)
for j = 1, count, 500 do redis.call('XACK', stream, group, unpack(ids, j, math.min(j + 499, count))) end
return replies
`;

/** Everything one run of the merged batch script needs. */
export interface MergedBatchInput extends BatchHead {
  writes: MergedWrites;
  /** In stream order; ids are stream ids (`<ms>-<seq>`: no comma). */
  entries: { id: string; publishes: ScriptPublish[] }[];
}

/** The merged batch script's KEYS and ARGV: the only place their order is written down. */
export function mergedBatchScriptCall(input: MergedBatchInput): ScriptCall {
  const table = keyTable(input.stream);
  const { keys } = table;
  const indexOf = (key: string): string => String(table.indexOf(key));
  const { checks, commands } = input.writes;
  const args = [...batchHeadArgs(input, input.entries.length), String(checks.length)];
  for (const { key, type } of checks) args.push(indexOf(key), type);
  args.push(String(commands.length));
  for (const { name, key, args: commandArgs } of commands) args.push(name, indexOf(key), String(commandArgs.length), ...commandArgs);
  // Channels numbered in first-use order; per frame its channel's number.
  const numbers = new Map<string, number>();
  const channelArgs: string[] = [];
  const frameChannels: number[] = [];
  const frames: string[] = [];
  for (const { publishes } of input.entries) {
    for (const { pubsub, position, history, frame } of publishes) {
      let number = numbers.get(position);
      if (number === undefined) {
        numbers.set(position, (number = numbers.size + 1));
        channelArgs.push(pubsub, indexOf(position), indexOf(history));
      }
      frameChannels.push(number);
      frames.push(scriptFrame(frame));
    }
  }
  args.push(
    String(numbers.size),
    ...channelArgs,
    input.entries.map((entry) => entry.id).join(','),
    input.entries.map((entry) => entry.publishes.length).join(','),
    frameChannels.join(','),
    ...frames,
  );
  return { keys, args };
}
