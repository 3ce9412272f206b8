/**
 * Lua scripts run atomically inside Redis. Keys are always passed in KEYS.
 */
import { CHANNEL_LUA } from './scripts/channel.js';

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
