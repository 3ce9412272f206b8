import type { MergedWrites } from '../commit/merge.js';
import { BATCH_CHANNELS_LUA } from './batch-channels.js';
import { BATCH_HEAD_LUA, ORDER_LUA, batchHeadArgs, keyTable, type BatchHead } from './batch-commit.js';
import { scriptFrame, type ScriptCall, type ScriptPublish } from './commit.js';

/**
 * merged batch commit: the fast path of a batch, for when every entry applies. Its writes come
 * merged (`mergeWrites`), so the script runs a few commands for the whole batch instead of each
 * entry's ops, and its frames come grouped by channel. It checks first, and writes nothing when
 * a check fails: every entry must still be pending for this consumer (one XPENDING, which
 * also answers the order rule of `ORDER_LUA`), every key
 * must hold the type its writes need (one TYPE per key, an HMGET and a TYPE per channel);
 * otherwise it answers {'split'} and the caller runs the batch entry by entry
 * (`BATCH_COMMIT_SCRIPT`), where a failing entry is refused alone. Then, per channel, what
 * `BATCH_CHANNELS_LUA` does (one HINCRBY, one XADD per frame, one PUBLISH), and one XACK for
 * the batch, last. The worker's own encoding is trusted (it is checked in `validateCommit`);
 * only the layout is checked, once.
 *
 * The order of KEYS and ARGV is written down once, in `mergedBatchScriptCall` below, and named
 * at the top of the script. Returns {'wait'} (see `ORDER_LUA`), {'split'}, or the offset of each
 * channel's first frame, in channel order (`mergedOffsets` gives each entry's offsets).
 */
export const MERGED_BATCH_COMMIT_SCRIPT = `${ORDER_LUA}${BATCH_CHANNELS_LUA}${BATCH_HEAD_LUA}-- ARGV[12..]: the type check count, per check (key index, type); the command count, per
-- command (name, key index, argument count, arguments...); the channel count, per channel
-- (pub/sub name, position key index, history key index, frame count, the byte length of each
-- frame comma-separated); the entries' stream ids in stream order, comma-separated; the frames,
-- one argument each, grouped by channel in channel order (each channel's in entry order). Each
-- frame travels once: a channel's message body is its frames concatenated here.
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
local ids_at = channels_at + 5 * channel_count
local frames_at = ids_at + 1
local channels, frame_count = {}, 0
for c = 1, channel_count do
  local at = channels_at + 5 * (c - 1)
  local channel = {name = ARGV[at], position = KEYS[tonumber(ARGV[at + 1])], history = KEYS[tonumber(ARGV[at + 2])], frames = tonumber(ARGV[at + 3])}
  if channel.position == nil or channel.history == nil or channel.frames == nil or channel.frames < 1 then return malformed('channel ' .. c) end
  channels[c] = channel
  frame_count = frame_count + channel.frames
end
if #ARGV ~= frames_at - 1 + frame_count then return malformed('frames') end

-- Checks: nothing is written unless all pass.
-- One XPENDING from the start of the group to the batch's last id answers both the order rule
-- (the entries before the batch's first id) and ownership (this consumer's entries from it on);
-- the two calls of the entry-by-entry script when it is cut short or the first id is not pending.
local ids, limit = {}, count + 200
local pending = redis.call('XPENDING', stream, group, '-', last_id, limit)
local at = 0
if #pending < limit then
  for n, p in ipairs(pending) do if p[1] == first_id then at = n break end end
end
if at == 0 then
  if must_wait(stream, group, consumer, first_id, order_wait_ms, alive_prefix) then return {'wait'} end
  for e, p in ipairs(redis.call('XPENDING', stream, group, first_id, last_id, count + 1000, consumer)) do ids[e] = p[1] end
else
  if older_must_wait(pending, at - 1, consumer, order_wait_ms, alive_prefix) then return {'wait'} end
  for n = at, #pending do
    local p = pending[n]
    if p[2] == consumer then ids[#ids + 1] = p[1] end
  end
end
-- Usually exactly the batch: one comparison; otherwise each id looked up.
if #ids ~= count or table.concat(ids, ',') ~= ARGV[ids_at] then
  local owned = {}
  for _, id in ipairs(ids) do owned[id] = true end
  ids = {}
  for id in string.gmatch(ARGV[ids_at], '[^,]+') do
    if not owned[id] then return {'split'} end
    ids[#ids + 1] = id
  end
  if #ids ~= count then return malformed('entries') end
end
for c = 0, check_count - 1 do
  local t = redis.call('TYPE', KEYS[tonumber(ARGV[checks_at + 2 * c])]).ok
  if t ~= 'none' and t ~= ARGV[checks_at + 2 * c + 1] then return {'split'} end
end
for _, channel in ipairs(channels) do
  if not check_channel(channel) then return {'split'} end
end

-- Writes: nothing below can fail on what was checked above.
i = commands_at
for c = 1, command_count do
  local argc = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + argc))
  i = i + 3 + argc
end
local firsts, f = {}, frames_at
for c, channel in ipairs(channels) do
  advance_channel(channel, epoch_candidate)
  append_frames(channel, ARGV, f, history_size, history_ttl)
  publish_channel(publish_command, channel, ARGV[channels_at + 5 * (c - 1) + 4], table.concat(ARGV, '', f, f + channel.frames - 1))
  f = f + channel.frames
  firsts[c] = channel.first
end
for j = 1, count, 500 do redis.call('XACK', stream, group, unpack(ids, j, math.min(j + 499, count))) end
return firsts
`;

/** Everything one run of the merged batch script needs. */
export interface MergedBatchInput extends BatchHead {
  writes: MergedWrites;
  /** In stream order; ids are stream ids (`<ms>-<seq>`: no comma). */
  entries: { id: string; publishes: ScriptPublish[] }[];
}

/** Two stream ids (`<ms>-<seq>`) in stream order: compared as numbers of any length, without parsing. */
function byStreamOrder(a: string, b: string): number {
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  if (aDash !== bDash) return aDash - bDash;
  // Equally long times: the strings' order up to the dash is the times' order.
  for (let n = 0; n < aDash; n++) if (a.charCodeAt(n) !== b.charCodeAt(n)) return a.charCodeAt(n) - b.charCodeAt(n);
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Stream ids in stream order: the ids themselves when they already are (a batch as read), a
 * sorted copy otherwise.
 */
export function inStreamOrder(ids: string[]): string[] {
  for (let n = 1; n < ids.length; n++) if (byStreamOrder(ids[n - 1] as string, ids[n] as string) > 0) return [...ids].sort(byStreamOrder);
  return ids;
}

/** The merged batch script's KEYS and ARGV, and for each entry the channel (0-based) of each frame. */
export interface MergedBatchCall extends ScriptCall {
  frameChannels: number[][];
}

/** A channel of a merged batch: its names, and its frames (as the scripts take them) in entry order. */
interface ChannelFrames {
  publish: ScriptPublish;
  frames: string[];
}

/** The merged batch script's KEYS and ARGV: the only place their order is written down. */
export function mergedBatchScriptCall(input: MergedBatchInput): MergedBatchCall {
  const table = keyTable(input.stream);
  const { keys } = table;
  const indexOf = (key: string): string => String(table.indexOf(key));
  const { checks, commands } = input.writes;
  const args = [...batchHeadArgs(input, input.entries.length), String(checks.length)];
  for (const { key, type } of checks) args.push(indexOf(key), type);
  args.push(String(commands.length));
  for (const { name, key, args: commandArgs } of commands) args.push(name, indexOf(key), String(commandArgs.length), ...commandArgs);
  // Channels numbered in first-use order, each with its frames in entry order.
  const numbers = new Map<string, number>();
  const channels: ChannelFrames[] = [];
  const frameChannels = input.entries.map(({ publishes }) =>
    publishes.map((publish) => {
      let number = numbers.get(publish.position);
      if (number === undefined) {
        numbers.set(publish.position, (number = channels.length));
        channels.push({ publish, frames: [] });
      }
      (channels[number] as ChannelFrames).frames.push(scriptFrame(publish.frame));
      return number;
    }),
  );
  args.push(String(channels.length));
  for (const { publish, frames } of channels) {
    // The message's lengths header, built here once; its body is the frames, which travel once.
    args.push(publish.pubsub, indexOf(publish.position), indexOf(publish.history), String(frames.length), frames.map((frame) => Buffer.byteLength(frame)).join(','));
  }
  args.push(inStreamOrder(input.entries.map((entry) => entry.id)).join(','));
  for (const { frames } of channels) for (const frame of frames) args.push(frame);
  return { keys, args, frameChannels };
}

/**
 * Each entry's offsets from the merged script's reply (the offset of each channel's first frame):
 * a channel's frames take consecutive offsets in entry order.
 */
export function mergedOffsets(frameChannels: number[][], firsts: number[]): number[][] {
  const next = [...firsts];
  return frameChannels.map((channels) => channels.map((channel) => (next[channel] = (next[channel] ?? 0) + 1) - 1));
}
