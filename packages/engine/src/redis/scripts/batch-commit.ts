import type { HistoryLimits, StoreOp } from '../../engine.js';
import { BATCH_CHANNELS_LUA } from './batch-channels.js';
import { APPLY_OP_LUA } from './channel.js';
import { encodeOps, scriptFrame, type ScriptCall, type ScriptPublish } from './commit.js';

/**
 * Lua: the order rule of a batch. An entry of the stream older than the batch and still pending
 * on another consumer announced alive, which received it less than `wait_ms` ago, is committed
 * first: the script answers {'wait'} before writing anything, and the caller sends the batch
 * again a moment later. An older entry held longer than that (a failing entry) or by a consumer
 * no longer announced alive (a dead worker: its entries are being taken over) no longer holds
 * the batch back; nor do the consumer's own older entries.
 */
export const ORDER_LUA = `
-- The alive key of a consumer is alive_prefix .. its name, in the stream's slot (not in KEYS:
-- its name is only known once XPENDING answered).
-- older: XPENDING entries (id, holder, idle ms, deliveries) older than the batch, in stream
-- order; the first 100 (up to \`upto\`) are looked at.
local function older_must_wait(older, upto, consumer, wait_ms, alive_prefix)
  local alive = {}
  for n = 1, math.min(upto, 100) do
    local p = older[n]
    local holder = p[2]
    if holder ~= consumer and p[3] < wait_ms then
      if alive[holder] == nil then alive[holder] = redis.call('EXISTS', alive_prefix .. holder) == 1 end
      if alive[holder] then return true end
    end
  end
  return false
end
local function must_wait(stream, group, consumer, first_id, wait_ms, alive_prefix)
  local older = redis.call('XPENDING', stream, group, '-', '(' .. first_id, 100)
  return older_must_wait(older, #older, consumer, wait_ms, alive_prefix)
end
`;

/**
 * Lua: ARGV[1..11] of both batch scripts, named (built by \`batchHeadArgs\`). KEYS[1] is the
 * partition's ingest stream; KEYS[2..] the keys written, and the channels' position and history keys.
 */
export const BATCH_HEAD_LUA = `
local stream = KEYS[1]
local group, consumer = ARGV[1], ARGV[2]
local history_size, history_ttl = ARGV[3], ARGV[4]
-- The epoch a channel without one starts; 'PUBLISH', or 'SPUBLISH' on a Redis Cluster.
local epoch_candidate, publish_command = ARGV[5], ARGV[6]
-- The lowest and highest stream id of the batch, and its entry count.
local first_id, last_id, count = ARGV[7], ARGV[8], tonumber(ARGV[9])
-- How long an older entry in another consumer's hands holds the batch back (ms).
local order_wait_ms = tonumber(ARGV[10])
-- What a consumer's name is appended to for its alive key.
local alive_prefix = ARGV[11]
`;

/**
 * batch commit: the commits of a worker's read batch whose keys share the ingest stream's slot,
 * in one call. Each entry is still all or nothing, and nothing of an entry is written or
 * published unless every check of it passed:
 *
 * 1. order (`ORDER_LUA`): {'wait'} while an older entry is in another consumer's hands;
 *    ownership, once for the batch: one XPENDING over the batch's id range for this consumer;
 *    an entry no longer pending for it (taken over meanwhile) is skipped, reported {0};
 * 2. key types, once per distinct key (the cache follows what earlier entries of the batch
 *    create), each channel's keys once: an entry whose key holds another type is refused alone, reported {-1, reason},
 *    and stays pending; the arguments were validated by the caller (`validateCommit`);
 * 3. each channel's position advanced by k with one HINCRBY, the k frames appended to its
 *    history and published in the batch's order, in one message per channel (see
 *    `BATCH_CHANNELS_LUA`); commutative writes of one key (INCRBY, PFADD, ZADD, EXPIRE) merged
 *    into one call per key;
 * 4. one XACK for every entry applied, last.
 *
 * The order of KEYS and ARGV is written down once, in `batchCommitScriptCall` below, and named
 * at the top of the script. Returns {'wait'}, or one reply per entry, in order:
 * {1, offset of each frame...} | {0} | {-1, reason}.
 */
export const BATCH_COMMIT_SCRIPT = `${ORDER_LUA}${BATCH_CHANNELS_LUA}${APPLY_OP_LUA}${BATCH_HEAD_LUA}-- ARGV[12..]: per entry: stream id, op count, per op (name, key index, argument count,
-- arguments...), publish count, per publish (channel, position key index, history key index, frame).

-- The key type each op needs (false: any), and the type the key holds after it (nil: unchanged).
local NEEDS = {incr = 'string', pfadd = 'string', zadd = 'zset', zremrangebyscore = 'zset', lpush = 'list', ltrim = 'list'}
local MAKES = {incr = 'string', pfadd = 'string', zadd = 'zset', lpush = 'list', setnx = 'string', set = 'string', setex = 'string', del = 'none'}
-- Ops whose repetitions on one key in one batch may be merged into one call.
local FAMILY = {incr = 'incr', pfadd = 'pfadd', zadd = 'zadd', expire = 'expire'}

if must_wait(stream, group, consumer, first_id, order_wait_ms, alive_prefix) then return {'wait'} end

local entries, i = {}, 12
for e = 1, count do
  local id, ops, pubs = ARGV[i], {}, {}
  local opc = tonumber(ARGV[i + 1])
  i = i + 2
  for o = 1, opc do
    local argc = tonumber(ARGV[i + 2])
    ops[o] = {ARGV[i], KEYS[tonumber(ARGV[i + 1])], i + 3, argc}
    i = i + 3 + argc
  end
  local pubc = tonumber(ARGV[i])
  i = i + 1
  for p = 1, pubc do
    pubs[p] = {ARGV[i], KEYS[tonumber(ARGV[i + 1])], KEYS[tonumber(ARGV[i + 2])], ARGV[i + 3]}
    i = i + 4
  end
  entries[e] = {id, ops, pubs}
end

-- 1. Ownership, once.
local owned = {}
for _, p in ipairs(redis.call('XPENDING', stream, group, first_id, last_id, count + 1000, consumer)) do owned[p[1]] = true end

-- 2. Checks, in order, before any write.
local types = {}
local function type_of(key)
  local t = types[key]
  if t == nil then
    t = redis.call('TYPE', key).ok
    types[key] = t
  end
  return t
end
local function holds(key, wanted) local t = type_of(key) return t == 'none' or t == wanted end
-- Each channel checked once (\`check_channel\`): position key -> its channel, or false.
local checked = {}
local function channel_of(pub)
  local channel = checked[pub[2]]
  if channel == nil then
    channel = {name = pub[1], position = pub[2], history = pub[3], frames = 0, out = {}, lengths = {}}
    if not check_channel(channel) then channel = false end
    checked[pub[2]] = channel
  end
  return channel
end
local replies, applying = {}, {}
local families = {} -- key -> its single family, or false once it has several or an unmergeable op
for e, entry in ipairs(entries) do
  local why
  if not owned[entry[1]] then
    replies[e] = {0}
  else
    for n, op in ipairs(entry[2]) do
      local wanted = NEEDS[op[1]]
      if wanted and not holds(op[2], wanted) then why = 'op ' .. n .. ' (' .. op[1] .. '): key holds the wrong type' break end
    end
    if not why then
      for n, pub in ipairs(entry[3]) do
        if not channel_of(pub) then why = 'publish ' .. n .. ': channel keys hold the wrong type' break end
      end
    end
    if why then
      replies[e] = {-1, 'commit refused: ' .. why}
    else
      applying[#applying + 1] = e
      for _, op in ipairs(entry[2]) do
        local made = MAKES[op[1]]
        if made then types[op[2]] = made end
        local family, seen = FAMILY[op[1]], families[op[2]]
        if seen ~= false then
          if family == nil then families[op[2]] = false
          elseif family == 'expire' then families[op[2]] = seen or 'expire'
          elseif seen == nil or seen == 'expire' then families[op[2]] = family
          elseif seen ~= family then families[op[2]] = false end
        end
      end
    end
  end
end
-- A key touched only by one mergeable family (and EXPIRE) is written once, after the entries.

-- 3. Channels: advanced once each by the number of frames.
local order = {}
for _, e in ipairs(applying) do
  for _, pub in ipairs(entries[e][3]) do
    local channel = checked[pub[2]]
    if channel.frames == 0 then order[#order + 1] = channel end
    channel.frames = channel.frames + 1
  end
end
for _, channel in ipairs(order) do
  advance_channel(channel, epoch_candidate)
  channel.next = channel.first
end

-- Writes: nothing below can fail on what was checked above.
local merged, merged_keys = {}, {}
local function merge(key)
  local m = merged[key]
  if m == nil then
    m = {by = 0, members = {}, scored = {}}
    merged[key] = m
    merged_keys[#merged_keys + 1] = key
  end
  return m
end
local acked = {}
for _, e in ipairs(applying) do
  local entry = entries[e]
  for _, op in ipairs(entry[2]) do
    local name, key, a, argc = op[1], op[2], op[3], op[4]
    if families[key] then
      local m = merge(key)
      if name == 'incr' then m.by = m.by + tonumber(ARGV[a]) m.incr = true
      elseif name == 'pfadd' then m.members[#m.members + 1] = ARGV[a]
      elseif name == 'zadd' then m.scored[#m.scored + 1] = ARGV[a] m.scored[#m.scored + 1] = ARGV[a + 1]
      elseif name == 'expire' then m.expire = ARGV[a] end
    else apply_op(name, key, a, argc) end
  end
  local reply = {1}
  for _, pub in ipairs(entry[3]) do
    local channel, frame = checked[pub[2]], pub[4]
    reply[#reply + 1] = channel.next
    channel.next = channel.next + 1
    channel.out[#channel.out + 1] = frame
    channel.lengths[#channel.lengths + 1] = string.len(frame)
  end
  replies[e] = reply
  acked[#acked + 1] = entry[1]
end
for _, key in ipairs(merged_keys) do
  local m = merged[key]
  if m.incr then redis.call('INCRBY', key, m.by) end
  for j = 1, #m.members, 500 do redis.call('PFADD', key, unpack(m.members, j, math.min(j + 499, #m.members))) end
  for j = 1, #m.scored, 1000 do redis.call('ZADD', key, unpack(m.scored, j, math.min(j + 999, #m.scored))) end
  if m.expire then redis.call('EXPIRE', key, m.expire) end
end
for _, channel in ipairs(order) do
  append_frames(channel, channel.out, 1, history_size, history_ttl)
  publish_channel(publish_command, channel, table.concat(channel.lengths, ','), table.concat(channel.out))
end

-- 4. Acknowledged last, at once.
for j = 1, #acked, 500 do redis.call('XACK', stream, group, unpack(acked, j, math.min(j + 499, #acked))) end
return replies
`;

/** One entry of a batch: its id in the partition's stream, its ops (keys as stored) and frames. */
export interface BatchEntryInput {
  id: string;
  ops: StoreOp[];
  publishes: ScriptPublish[];
}

/** What both batch scripts take first: the stream, the consumer, history limits and the order rule. */
export interface BatchHead {
  /** The partition's ingest stream. */
  stream: string;
  group: string;
  consumer: string;
  history: HistoryLimits;
  epoch: string;
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** The lowest and highest id of the entries. */
  firstId: string;
  lastId: string;
  /** How long an older entry in another consumer's hands holds the batch back (ms). */
  orderWaitMs: number;
  /** A consumer's alive key is this followed by its name. */
  alivePrefix: string;
}

/** Everything one run of the batch commit script needs. */
export interface BatchCommitInput extends BatchHead {
  /** In stream order. */
  entries: BatchEntryInput[];
}

/** ARGV[1..11] of both batch scripts (named at the top of each by `BATCH_HEAD_LUA`). */
export function batchHeadArgs(head: BatchHead, entryCount: number): string[] {
  return [
    head.group,
    head.consumer,
    String(head.history.size),
    String(head.history.ttlS),
    head.epoch,
    head.publishCommand,
    head.firstId,
    head.lastId,
    String(entryCount),
    String(head.orderWaitMs),
    head.alivePrefix,
  ];
}

/** A script's KEYS, starting with `first`, and the 1-based index of each key (added when new). */
export function keyTable(first: string): { keys: string[]; indexOf: (key: string) => number } {
  const keys = [first];
  const indexes = new Map<string, number>([[first, 1]]);
  const indexOf = (key: string): number => {
    let index = indexes.get(key);
    if (index === undefined) indexes.set(key, (index = keys.push(key)));
    return index;
  };
  return { keys, indexOf };
}

/** The batch commit script's KEYS and ARGV: the only place their order is written down. */
export function batchCommitScriptCall(input: BatchCommitInput): ScriptCall {
  const { keys, indexOf } = keyTable(input.stream);
  const args = batchHeadArgs(input, input.entries.length);
  for (const entry of input.entries) {
    args.push(entry.id, ...encodeOps(entry.ops, indexOf), String(entry.publishes.length));
    for (const { pubsub, position, history, frame } of entry.publishes) {
      args.push(pubsub, String(indexOf(position)), String(indexOf(history)), scriptFrame(frame));
    }
  }
  return { keys, args };
}
