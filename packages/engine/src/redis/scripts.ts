/**
 * Lua scripts run atomically inside Redis. Keys are always passed in KEYS.
 */

/** Lua helpers shared by the scripts that touch a channel's position and history. */
const CHANNEL_LUA = `
-- The channel's epoch and latest offset; a channel without them starts a new epoch at offset 0,
-- and a history left from an earlier epoch is dropped with it.
local function channel_position(position_key, history_key, epoch_candidate)
  local position = redis.call('HMGET', position_key, 'epoch', 'offset')
  if position[1] then return position[1], tonumber(position[2] or '0') end
  redis.call('DEL', history_key)
  redis.call('HSET', position_key, 'epoch', epoch_candidate, 'offset', '0')
  return epoch_candidate, 0
end
`;

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
 * KEYS[1] guard marker (once), the ingest stream (entry) or unused (none); KEYS[2..] op keys and
 * each channel's position and history keys.
 * ARGV[1] guard kind ('entry' | 'once' | 'none'); ARGV[2] stream id or marker TTL (s); ARGV[3] group;
 * ARGV[4] consumer; ARGV[5] history size; ARGV[6] history TTL (s); ARGV[7] epoch for a channel that
 * has none; ARGV[8] the publish command ('PUBLISH', or 'SPUBLISH' on a Redis Cluster: sharded
 * pub/sub, the channel hashing to the slot of the channel's keys); ARGV[9] op count, then per op:
 * name, key index, argument count, arguments...;
 * then the publish count, then per publish: channel, position key index, history key index, frame
 * (a JSON object, '{}' when empty).
 * Returns {applied (0|1), offset of each published frame...}; an error reply when refused.
 */
export const COMMIT_SCRIPT = `${CHANNEL_LUA}
local kind = ARGV[1]
if kind == 'entry' then
  if #redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[2], ARGV[2], 1, ARGV[4]) == 0 then return {0} end
elseif kind == 'once' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
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

local publish_command = ARGV[8]
if publish_command ~= 'PUBLISH' and publish_command ~= 'SPUBLISH' then return refuse('unknown publish command') end
local ops, i = {}, 10
for n = 1, tonumber(ARGV[9]) do
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
for _, op in ipairs(ops) do
  local name, key, a, argc = op[1], op[2], op[3], op[4]
  if name == 'incr' then redis.call('INCRBY', key, ARGV[a])
  elseif name == 'pfadd' then redis.call('PFADD', key, ARGV[a])
  elseif name == 'zadd' then redis.call('ZADD', key, ARGV[a], ARGV[a + 1])
  elseif name == 'zremrangebyscore' then redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a])
  elseif name == 'expire' then redis.call('EXPIRE', key, ARGV[a])
  elseif name == 'setnx' then redis.call('SET', key, ARGV[a], 'NX', 'EX', ARGV[a + 1])
  elseif name == 'lpush' then
    for j = a, a + argc - 1, 500 do redis.call('LPUSH', key, unpack(ARGV, j, math.min(j + 499, a + argc - 1))) end
  elseif name == 'ltrim' then redis.call('LTRIM', key, ARGV[a], ARGV[a + 1])
  elseif name == 'del' then redis.call('DEL', key)
  elseif name == 'set' then redis.call('SET', key, ARGV[a])
  elseif name == 'setex' then redis.call('SET', key, ARGV[a], 'EX', ARGV[a + 1])
  end
end

local result = {1}
local history_size, history_ttl = ARGV[5], ARGV[6]
for _, publish in ipairs(publishes) do
  local channel, position_key, history_key, frame = publish[1], publish[2], publish[3], publish[4]
  local epoch = channel_position(position_key, history_key, ARGV[7])
  local offset = redis.call('HINCRBY', position_key, 'offset', 1)
  if string.len(frame) == 2 then
    frame = '{"offset":' .. offset .. '}'
  else
    frame = string.sub(frame, 1, -2) .. ',"offset":' .. offset .. '}'
  end
  -- History entry ids are the offsets, so XRANGE can start right after a client's offset.
  local id = offset .. '-0'
  local added = redis.pcall('XADD', history_key, 'MAXLEN', history_size, id, 'f', frame)
  if type(added) == 'table' and added.err then
    -- A history ahead of the offset (its position key was lost alone): it cannot be continued.
    redis.call('DEL', history_key)
    redis.call('XADD', history_key, 'MAXLEN', history_size, id, 'f', frame)
  end
  redis.call('EXPIRE', history_key, history_ttl)
  redis.call(publish_command, channel, epoch .. ' ' .. offset .. ' ' .. frame)
  result[#result + 1] = offset
end

-- Settle the guard last: only a commit that got this far is acknowledged.
if kind == 'entry' then
  redis.call('XACK', KEYS[1], ARGV[3], ARGV[2])
elseif kind == 'once' then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
end
return result
`;

/**
 * position: the channel's epoch and latest offset, creating the epoch when it has none.
 * KEYS[1] position; KEYS[2] history. ARGV[1] epoch for a channel that has none.
 * Returns {epoch, offset}.
 */
export const POSITION_SCRIPT = `${CHANNEL_LUA}
local epoch, offset = channel_position(KEYS[1], KEYS[2], ARGV[1])
return {epoch, tostring(offset)}
`;

/**
 * history: the channel's position and, when the epoch matches and `since` is not past the
 * latest offset, the history entries after `since` (at most latest - since of them).
 * KEYS[1] position; KEYS[2] history. ARGV[1] epoch for a channel that has none; ARGV[2] the
 * client's epoch; ARGV[3] since (a whole number >= 0); ARGV[4] since + 1.
 * Returns {epoch, offset} or {epoch, offset, entries}.
 */
export const HISTORY_SCRIPT = `${CHANNEL_LUA}
local epoch, offset = channel_position(KEYS[1], KEYS[2], ARGV[1])
local since = tonumber(ARGV[3])
if epoch ~= ARGV[2] or since >= offset then return {epoch, tostring(offset)} end
return {epoch, tostring(offset), redis.call('XRANGE', KEYS[2], ARGV[4], '+', 'COUNT', offset - since)}
`;

/**
 * takeOver: moves a dead consumer's pending entries to a live one, unless it announced itself
 * alive meanwhile, and forgets the consumer once nothing is left pending for it. One script per
 * dead consumer, so two live workers never take the same entries.
 * KEYS[1] the ingest stream; KEYS[2] the dead consumer's alive key.
 * ARGV[1] group; ARGV[2] dead consumer; ARGV[3] taker; ARGV[4] max entries.
 * Returns {claimed entries (XCLAIM reply), their delivery counts before the claim, by id (flat)}.
 */
export const TAKE_OVER_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {{}, {}} end
local limit = tonumber(ARGV[4])
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', limit, ARGV[2])
local ids, deliveries = {}, {}
for n, p in ipairs(pending) do
  ids[n] = p[1]
  deliveries[#deliveries + 1] = p[1]
  deliveries[#deliveries + 1] = p[4]
end
local claimed = {}
if #ids > 0 then claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids)) end
if #pending < limit then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
return {claimed, deliveries}
`;

/**
 * appendOnce: XADD to the ingest stream unless the dedupe marker exists, then SET the marker.
 * KEYS[1] the ingest stream; KEYS[2] the marker. ARGV[1] marker TTL (s); ARGV[2] marker value;
 * ARGV[3..] the entry's field/value pairs.
 * Returns {1, stream id} when appended, {0, marker value} for a duplicate.
 * XADD runs before SET: Lua does not roll back, so a failing XADD leaves no marker behind.
 */
export const APPEND_ONCE_SCRIPT = `
local existing = redis.call('GET', KEYS[2])
if existing then return {0, existing} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
return {1, id}
`;

/**
 * An append on a Redis Cluster, idempotent or not, that wakes the partition's readers. KEYS[1]
 * the partition's ingest stream; KEYS[2] its wake-up flag; KEYS[3] the idempotency marker, when
 * the append has one. ARGV[1] the wake-up shard channel; ARGV[2] marker TTL (s); ARGV[3] marker
 * value; ARGV[4..] field/value pairs. The wake-up is published only when the flag was clear:
 * readers clear it as they read (PARTITION_READ_SCRIPT), so a busy partition costs one message
 * per read rather than one per entry. Returns {1, stream id}, or {0, first value} for a
 * duplicate (nothing stored).
 */
export const CLUSTER_APPEND_SCRIPT = `
if KEYS[3] then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, existing} end
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2]) end
if redis.call('SET', KEYS[2], '1', 'NX') then redis.call('SPUBLISH', ARGV[1], '') end
return {1, id}
`;

/**
 * A non-blocking read of a partition for a consumer of the group, clearing its wake-up flag in
 * the same step: any entry appended after it publishes a wake-up again. KEYS[1] stream; KEYS[2]
 * wake-up flag; ARGV[1] group; ARGV[2] consumer; ARGV[3] count. Returns XREADGROUP's reply.
 */
export const PARTITION_READ_SCRIPT = `
redis.call('DEL', KEYS[2])
return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
`;

/** Acquire or extend a lease. KEYS[1] lease; ARGV[1] holder; ARGV[2] ttl ms. Returns 1 when held. */
export const LEASE_ACQUIRE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Release a lease only if still held by this holder. */
export const LEASE_RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
