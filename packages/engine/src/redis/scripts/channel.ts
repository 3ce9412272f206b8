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
