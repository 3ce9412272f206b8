/** Lua helpers shared by the scripts that touch a channel's position and history. */
export const CHANNEL_LUA = `
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

/** Lua: appending a frame to a channel's history and publishing it, for the commit scripts. */
export const APPEND_FRAME_LUA = `
-- XADD of a frame to a history under its offset's id, trimmed to maxlen when given.
local function history_add(call, history_key, id, frame, maxlen)
  if maxlen then return call('XADD', history_key, 'MAXLEN', maxlen, id, 'f', frame) end
  return call('XADD', history_key, id, 'f', frame)
end
-- A frame (a JSON object) with its offset appended, added to the channel's history (history
-- entry ids are the offsets, so XRANGE can start right after a client's offset); returns the
-- frame as added, for publishing.
local function append_frame(history_key, offset, frame, maxlen)
  if string.len(frame) == 2 then
    frame = '{"offset":' .. offset .. '}'
  else
    frame = string.sub(frame, 1, -2) .. ',"offset":' .. offset .. '}'
  end
  local id = offset .. '-0'
  local added = history_add(redis.pcall, history_key, id, frame, maxlen)
  if type(added) == 'table' and added.err then
    -- A history ahead of the offset (its position key was lost alone): it cannot be continued.
    redis.call('DEL', history_key)
    history_add(redis.call, history_key, id, frame, maxlen)
  end
  return frame
end
-- One frame as a channel message: '<epoch> <offset> <frame>' (decodeChannelPayload).
local function publish_frame(publish_command, name, epoch, offset, frame)
  redis.call(publish_command, name, epoch .. ' ' .. offset .. ' ' .. frame)
end
`;

/**
 * Lua: applies one store op whose arguments were checked (see `encodeOps` for the ARGV layout:
 * `a` is the index of its first argument, `argc` their count). Shared by the commit scripts.
 */
export const APPLY_OP_LUA = `
local function apply_op(name, key, a, argc)
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
`;
