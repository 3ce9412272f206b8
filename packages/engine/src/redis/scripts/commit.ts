import type { HistoryLimits, StoreOp } from '../../engine.js';
import { APPEND_FRAME_LUA, APPLY_OP_LUA, CHANNEL_LUA } from './channel.js';

/**
 * commit: guard, validate, apply store ops, publish each frame with its channel's next offset
 * (appending it to the channel's history), then settle the guard.
 *
 * Redis does not roll a script back, so the script reads and checks everything first (the
 * guard, every op's arguments and key types, every frame), then writes, and acknowledges the
 * entry (or sets the marker) last: a script that fails leaves the entry pending, to be retried
 * and dead-lettered after too many deliveries, never acknowledged and lost. Producer content
 * arrives as plain ARGV strings: nothing is decoded (no cjson) inside the script.
 *
 * The order of KEYS and ARGV is written down once, in `commitScriptCall` below, and named at
 * the top of the script. Returns {applied (0|1), offset of each published frame...}; an error
 * reply when refused.
 */
export const COMMIT_SCRIPT = `${CHANNEL_LUA}${APPEND_FRAME_LUA}${APPLY_OP_LUA}
-- The guard's key: the ingest stream (entry), the marker (once), or unused (none).
local guard_key = KEYS[1]
-- 'entry' | 'once' | 'none'; the entry's stream id, or the marker's TTL (s).
local guard_kind, guard_arg = ARGV[1], ARGV[2]
local group, consumer = ARGV[3], ARGV[4]
local history_size, history_ttl = ARGV[5], ARGV[6]
-- The epoch a channel without one starts.
local epoch_candidate = ARGV[7]
-- 'PUBLISH', or 'SPUBLISH' on a Redis Cluster (sharded pub/sub).
local publish_command = ARGV[8]
local op_count = tonumber(ARGV[9])
-- ARGV[10..]: per op: name, key index (into KEYS), argument count, arguments...; then the
-- publish count, then per publish: channel, position key index, history key index, frame.
local FIRST_OP = 10

if guard_kind == 'entry' then
  if #redis.call('XPENDING', guard_key, group, guard_arg, guard_arg, 1, consumer) == 0 then return {0} end
elseif guard_kind == 'once' then
  if redis.call('EXISTS', guard_key) == 1 then return {0} end
end

local function refuse(why) return redis.error_reply('ERR commit refused: ' .. why) end
local function is_int(v) local n = tonumber(v) return n ~= nil and n == math.floor(n) and n > -1e15 and n < 1e15 end
local function is_num(v) local n = tonumber(v) return n ~= nil and n == n and n > -math.huge and n < math.huge end
-- Per op: the key type it needs (false: any), how many arguments (-1: one or more) and
-- the checks of its arguments, by position.
local OPS = {
  incr = {'string', 1, {is_int}},
  pfadd = {'string', 1, {}},
  zadd = {'zset', 2, {is_num}},
  zremrangebyscore = {'zset', 1, {is_num}},
  expire = {false, 1, {is_int}},
  setnx = {false, 2, {nil, is_int}},
  lpush = {'list', -1, {}},
  ltrim = {'list', 2, {is_int, is_int}},
  del = {false, 0, {}},
  set = {false, 1, {}},
  setex = {false, 2, {nil, is_int}},
}
local function type_ok(key, wanted)
  if not wanted then return true end
  local actual = redis.call('TYPE', key).ok
  return actual == 'none' or actual == wanted
end

if publish_command ~= 'PUBLISH' and publish_command ~= 'SPUBLISH' then return refuse('unknown publish command') end
local ops, i = {}, FIRST_OP
for n = 1, op_count do
  local name, key, argc = ARGV[i], KEYS[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2])
  local spec = OPS[name]
  if spec == nil or key == nil or argc == nil then return refuse('malformed op ' .. n) end
  if (spec[2] == -1 and argc < 1) or (spec[2] ~= -1 and argc ~= spec[2]) then return refuse('op ' .. n .. ': wrong argument count') end
  for k, check in pairs(spec[3]) do
    if not check(ARGV[i + 2 + k]) then return refuse('op ' .. n .. ' (' .. name .. '): bad argument ' .. k) end
  end
  if not type_ok(key, spec[1]) then return refuse('op ' .. n .. ' (' .. name .. '): key holds the wrong type') end
  ops[n] = {name, key, i + 3, argc}
  i = i + 3 + argc
end

local publishes = {}
for n = 1, tonumber(ARGV[i]) do
  local base = i + 1 + (n - 1) * 4
  local channel, position_key, history_key, frame = ARGV[base], KEYS[tonumber(ARGV[base + 1])], KEYS[tonumber(ARGV[base + 2])], ARGV[base + 3]
  if channel == nil or position_key == nil or history_key == nil or frame == nil then return refuse('malformed publish ' .. n) end
  if string.sub(frame, 1, 1) ~= '{' or string.sub(frame, -1) ~= '}' then return refuse('publish ' .. n .. ': frame is not a JSON object') end
  if not type_ok(position_key, 'hash') or not type_ok(history_key, 'stream') then return refuse('publish ' .. n .. ': channel keys hold the wrong type') end
  publishes[n] = {channel, position_key, history_key, frame}
end
if #ARGV ~= i + #publishes * 4 then return refuse('malformed publishes') end

-- Writes: nothing below can fail on the arguments checked above.
for _, op in ipairs(ops) do apply_op(op[1], op[2], op[3], op[4]) end

local result = {1}
for _, publish in ipairs(publishes) do
  local channel, position_key, history_key, frame = publish[1], publish[2], publish[3], publish[4]
  local epoch = channel_position(position_key, history_key, epoch_candidate)
  local offset = redis.call('HINCRBY', position_key, 'offset', 1)
  publish_frame(publish_command, channel, epoch, offset, append_frame(history_key, offset, frame, history_size))
  redis.call('EXPIRE', history_key, history_ttl)
  result[#result + 1] = offset
end

-- Settle the guard last: only a commit that got this far is acknowledged.
if guard_kind == 'entry' then
  redis.call('XACK', guard_key, group, guard_arg)
elseif guard_kind == 'once' then
  redis.call('SET', guard_key, '1', 'EX', guard_arg)
end
return result
`;

/** What guards one run of the commit script, with its key as stored. */
export type ScriptGuard =
  | { kind: 'entry'; stream: string; id: string; consumer: string }
  | { kind: 'once'; marker: string; ttlS: number }
  | { kind: 'none' };

/** A frame to publish, with the names its channel is stored and published under. */
export interface ScriptPublish {
  pubsub: string;
  position: string;
  history: string;
  /** A JSON object (checked by `validateCommit`). */
  frame: string;
}

/** Everything one run of the commit script needs; op keys are keys as stored. */
export interface CommitScriptInput {
  guard: ScriptGuard;
  /** The ingest consumer group. */
  group: string;
  history: HistoryLimits;
  /** The epoch a channel without one starts. */
  epoch: string;
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  ops: StoreOp[];
  publishes: ScriptPublish[];
}

/** A script's KEYS and ARGV. */
export interface ScriptCall {
  keys: string[];
  args: string[];
}

/** The 1-based (Lua) index of `key` in `keys`, appending it when new. */
function keyIndex(keys: string[], key: string): number {
  const index = keys.indexOf(key);
  return (index === -1 ? keys.push(key) - 1 : index) + 1;
}

/**
 * Ops in the scripts' form: name, key index (`indexOf` gives it, 1-based), argument count,
 * arguments... (numbers already checked by `validateCommit`).
 */
export function encodeOps(ops: StoreOp[], indexOf: (key: string) => number): string[] {
  const kept = ops.filter((op) => op.op !== 'lpush' || op.values.length > 0); // LPUSH needs a value
  const out: string[] = [String(kept.length)];
  const push = (name: string, key: string, args: string[]) => out.push(name, String(indexOf(key)), String(args.length), ...args);
  for (const op of kept) {
    switch (op.op) {
      case 'incr':
        push(op.op, op.key, [String(op.by ?? 1)]);
        break;
      case 'pfadd':
        push(op.op, op.key, [op.member]);
        break;
      case 'zadd':
        push(op.op, op.key, [String(op.score), op.member]);
        break;
      case 'zremrangebyscore':
        push(op.op, op.key, [String(op.max)]);
        break;
      case 'expire':
        push(op.op, op.key, [String(op.seconds)]);
        break;
      case 'setnx':
        push(op.op, op.key, [op.value, String(op.seconds)]);
        break;
      case 'lpush':
        push(op.op, op.key, op.values);
        break;
      case 'ltrim':
        push(op.op, op.key, [String(op.start), String(op.stop)]);
        break;
      case 'del':
        push(op.op, op.key, []);
        break;
      case 'set':
        if (op.ttlS === undefined) push('set', op.key, [op.value]);
        else push('setex', op.key, [op.value, String(op.ttlS)]);
        break;
    }
  }
  return out;
}

/** A frame as the scripts take it: trailing whitespace dropped, `{}` when empty. */
export function scriptFrame(frame: string): string {
  const trimmed = frame.trimEnd();
  return /^\{\s*\}$/.test(trimmed) ? '{}' : trimmed;
}

/** The commit script's KEYS and ARGV: the only place their order is written down. */
export function commitScriptCall(input: CommitScriptInput): ScriptCall {
  const { guard } = input;
  // KEYS[1] is the guard's key; a run without a guard starts with its first op key instead.
  const keys = guard.kind === 'entry' ? [guard.stream] : guard.kind === 'once' ? [guard.marker] : [];
  const ops = encodeOps(input.ops, (key) => keyIndex(keys, key));
  const publishes = input.publishes.flatMap(({ pubsub, position, history, frame }) => [
    pubsub, String(keyIndex(keys, position)), String(keyIndex(keys, history)), scriptFrame(frame),
  ]);
  const args = [
    guard.kind,
    guard.kind === 'entry' ? guard.id : guard.kind === 'once' ? String(guard.ttlS) : '',
    input.group,
    guard.kind === 'entry' ? guard.consumer : '',
    String(input.history.size),
    String(input.history.ttlS),
    input.epoch,
    input.publishCommand,
    ...ops,
    String(input.publishes.length),
    ...publishes,
  ];
  return { keys, args };
}
