/**
 * Lua for presence (see redis/presence.ts). A channel's presence is four keys under its hash tag:
 * `expiry` (zset clientId → expiry ms), `index` (zset clientId, score 0, for paging by clientId),
 * `info` (hash clientId → `<userKey>\t<owner>\t<member JSON>`; the owner is the gateway that last
 * refreshed it), `users` (hash userKey → connections).
 * Times are the Redis server's (TIME), so gateways' clocks never disagree on an expiry.
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function user_of(stored)
  return string.sub(stored, 1, string.find(stored, '\\t', 1, true) - 1)
end
local function owner_of(stored)
  local first = string.find(stored, '\\t', 1, true)
  return string.sub(stored, first + 1, string.find(stored, '\\t', first + 1, true) - 1)
end
local function decrement(users, user)
  if redis.call('HINCRBY', users, user, -1) <= 0 then redis.call('HDEL', users, user) end
end
local function remove(k, id)
  local stored = redis.call('HGET', k[3], id)
  if stored then
    decrement(k[4], user_of(stored))
    redis.call('HDEL', k[3], id)
  end
  redis.call('ZREM', k[1], id)
  redis.call('ZREM', k[2], id)
end
-- Drops members whose expiry passed (at most 1000 per call: the next call goes on).
local function sweep(k, now)
  local gone = redis.call('ZRANGEBYSCORE', k[1], '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(gone) do remove(k, id) end
end
local function keys_of(c)
  return { KEYS[c * 4 + 1], KEYS[c * 4 + 2], KEYS[c * 4 + 3], KEYS[c * 4 + 4] }
end
`;

/**
 * Registers or refreshes members of C channels for an owner. ARGV: ttlMs, owner, C, then per
 * channel: M, and M quadruples (clientId, userKey, member JSON, mode): the mode is 'join'
 * (register or take over), 'keep' (as join, but never from another owner) or 'ifOwned' (only
 * extend while the owner holds it); see PresenceRefreshMode. Returns the server time (ms).
 */
export const PRESENCE_REFRESH_SCRIPT = `${COMMON}
local now = now_ms()
local ttl = tonumber(ARGV[1])
local owner = ARGV[2]
local a = 4
for c = 0, tonumber(ARGV[3]) - 1 do
  local k = keys_of(c)
  sweep(k, now)
  local m = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, m do
    local id, user, member, mode = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
    a = a + 4
    local value = user .. '\\t' .. owner .. '\\t' .. member
    local stored = redis.call('HGET', k[3], id)
    local owned = stored and owner_of(stored) == owner
    if mode == 'ifOwned' then
      if owned then redis.call('ZADD', k[1], now + ttl, id) end
    elseif mode == 'join' or not stored or owned then
      if not stored then
        redis.call('HINCRBY', k[4], user, 1)
        redis.call('ZADD', k[2], 0, id)
      elseif user_of(stored) ~= user then
        decrement(k[4], user_of(stored))
        redis.call('HINCRBY', k[4], user, 1)
      end
      if stored ~= value then redis.call('HSET', k[3], id, value) end
      redis.call('ZADD', k[1], now + ttl, id)
    end
  end
  -- The channel's keys outlive their last member's expiry a little, then go by themselves.
  for _, key in ipairs(k) do redis.call('PEXPIRE', key, ttl * 2) end
end
return now
`;

/**
 * Removes members of C channels: those the owner last refreshed (another gateway took over a
 * client that moved to it), or any when the owner is ''. ARGV: owner, C, then per channel: M and
 * M clientIds.
 */
export const PRESENCE_LEAVE_SCRIPT = `${COMMON}
local owner = ARGV[1]
local a = 3
for c = 0, tonumber(ARGV[2]) - 1 do
  local k = keys_of(c)
  local m = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, m do
    local stored = redis.call('HGET', k[3], ARGV[a])
    if owner == '' or not stored or owner_of(stored) == owner then remove(k, ARGV[a]) end
    a = a + 1
  end
end
return 0
`;

/** Occupancy of C channels (ARGV: C): a flat list connections1, users1, connections2, ... */
export const PRESENCE_OCCUPANCY_SCRIPT = `${COMMON}
local now = now_ms()
local out = {}
for c = 0, tonumber(ARGV[1]) - 1 do
  local k = keys_of(c)
  sweep(k, now)
  out[#out + 1] = redis.call('ZCARD', k[2])
  out[#out + 1] = redis.call('HLEN', k[4])
end
return out
`;

/** A page of one channel's members. ARGV: cursor ('' from the start), limit. Returns id, stored, id, stored, ... */
export const PRESENCE_MEMBERS_SCRIPT = `${COMMON}
local k = keys_of(0)
sweep(k, now_ms())
local from = ARGV[1] == '' and '-' or ('(' .. ARGV[1])
local ids = redis.call('ZRANGEBYLEX', k[2], from, '+', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
if #ids == 0 then return out end
local stored = redis.call('HMGET', k[3], unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = stored[i] or ''
end
return out
`;

/** The channel registry (KEYS[1], zset channel → expiry ms): ARGV ttlMs, channels... (re)registers them. */
export const PRESENCE_REGISTER_SCRIPT = `${COMMON}
local expires = now_ms() + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expires, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 0
`;

/** The channels registered and not expired (KEYS[1]), dropping the expired ones. */
export const PRESENCE_CHANNELS_SCRIPT = `${COMMON}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;
