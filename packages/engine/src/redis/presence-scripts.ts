/**
 * Lua for presence (see redis/presence.ts). A channel's presence is four keys under its hash tag
 * (`presence2:*`; the layout before, `presence:*`, is another key set: docs/presence.md#rolling-upgrades):
 * - `expiry`: zset clientId → expiry ms;
 * - `list`: zset, every score 0, of `<clientId>\0<member JSON>`: a page is one ZRANGEBYLEX
 *   (clientId order: no clientId holds a NUL, nor a byte below it) answering the stored JSON as is;
 * - `owners`: hash clientId → `<userKey>\t<owner>`, the owner being the gateway that last refreshed it;
 * - `users`: hash userKey → connections.
 * Times are the Redis server's (TIME), so gateways' clocks never disagree on an expiry.
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A user id may hold a tab, a gateway's id not: the owner is after the last one.
local function user_of(stored)
  return string.match(stored, '^(.*)\\t')
end
local function owner_of(stored)
  return string.match(stored, '\\t([^\\t]*)$')
end
local function decrement(users, user)
  if redis.call('HINCRBY', users, user, -1) <= 0 then redis.call('HDEL', users, user) end
end
-- The list entry of a member (its clientId, NUL, its JSON), or nil: O(log N).
local function entry_of(k, id)
  return redis.call('ZRANGEBYLEX', k[2], '[' .. id .. '\\0', '(' .. id .. '\\1', 'LIMIT', 0, 1)[1]
end
local function remove(k, id)
  local stored = redis.call('HGET', k[3], id)
  if stored then
    decrement(k[4], user_of(stored))
    redis.call('HDEL', k[3], id)
  end
  local entry = entry_of(k, id)
  if entry then redis.call('ZREM', k[2], entry) end
  redis.call('ZREM', k[1], id)
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
    local value = user .. '\\t' .. owner
    local stored = redis.call('HGET', k[3], id)
    local owned = stored and owner_of(stored) == owner
    if mode == 'ifOwned' then
      if owned then redis.call('ZADD', k[1], now + ttl, id) end
    elseif mode == 'join' or not stored or owned then
      local entry = id .. '\\0' .. member
      if not stored then
        redis.call('HINCRBY', k[4], user, 1)
        redis.call('ZADD', k[2], 0, entry)
      else
        if user_of(stored) ~= user then
          decrement(k[4], user_of(stored))
          redis.call('HINCRBY', k[4], user, 1)
        end
        local old = entry_of(k, id)
        if old ~= entry then
          if old then redis.call('ZREM', k[2], old) end
          redis.call('ZADD', k[2], 0, entry)
        end
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

/**
 * Drops one channel's expired members (a page's first step: its members are then one
 * ZRANGEBYLEX of `list` in the same round trip, the stored JSON coming as is: reading a page
 * through a script would cost Redis ten times as much, each entry passing through Lua).
 */
export const PRESENCE_SWEEP_SCRIPT = `${COMMON}
sweep(keys_of(0), now_ms())
return 0
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
