/**
 * Lua scripts run atomically inside Redis. Keys are always passed in KEYS.
 */

/**
 * commit: guard, apply store ops, publish each frame with its channel's next offset, acknowledge.
 * KEYS[1] guard marker (once), the ingest stream (entry) or unused (none); KEYS[2..] offset and op keys.
 * ARGV[1] guard kind ('entry' | 'once' | 'none'); ARGV[2] stream id or marker TTL; ARGV[3] group;
 * ARGV[4] consumer; ARGV[5] ops JSON [[op, keyIndex, args...]];
 * ARGV[6] publishes JSON [[channel, offsetKeyIndex], ...]; ARGV[7..] the frames, in the same order;
 * then channel/message pairs published verbatim (broadcasts).
 * Returns {applied (0|1), offset of each published frame...}.
 */
export const COMMIT_SCRIPT = `
if ARGV[1] == 'entry' then
  local owned = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[2], ARGV[2], 1, ARGV[4])
  if #owned == 0 then return {0} end
  redis.call('XACK', KEYS[1], ARGV[3], ARGV[2])
elseif ARGV[1] == 'once' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return {0} end
end
local ops = cjson.decode(ARGV[5])
for _, op in ipairs(ops) do
  local name, key = op[1], KEYS[op[2]]
  if name == 'incr' then redis.call('INCRBY', key, op[3])
  elseif name == 'pfadd' then redis.call('PFADD', key, op[3])
  elseif name == 'zadd' then redis.call('ZADD', key, op[3], op[4])
  elseif name == 'zremrangebyscore' then redis.call('ZREMRANGEBYSCORE', key, '-inf', op[3])
  elseif name == 'expire' then redis.call('EXPIRE', key, op[3])
  elseif name == 'setnx' then redis.call('SET', key, op[3], 'NX', 'EX', op[4])
  elseif name == 'lpush' then
    local values = op[3]
    for i = 1, #values, 500 do redis.call('LPUSH', key, unpack(values, i, math.min(i + 499, #values))) end
  elseif name == 'ltrim' then redis.call('LTRIM', key, op[3], op[4])
  elseif name == 'del' then redis.call('DEL', key)
  elseif name == 'set' then
    if op[4] then redis.call('SET', key, op[3], 'EX', op[4]) else redis.call('SET', key, op[3]) end
  end
end
local result = {1}
local publishes = cjson.decode(ARGV[6])
for i, publish in ipairs(publishes) do
  local offset = redis.call('INCR', KEYS[publish[2]])
  local frame = ARGV[6 + i]
  if string.len(frame) == 2 then
    frame = '{"offset":' .. offset .. '}'
  else
    frame = string.sub(frame, 1, -2) .. ',"offset":' .. offset .. '}'
  end
  redis.call('PUBLISH', publish[1], frame)
  result[#result + 1] = offset
end
for i = 7 + #publishes, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return result
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
