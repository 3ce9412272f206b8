/**
 * Lua: the channel side of both batch scripts. A channel is a table {name, position, history,
 * frames (its frame count in the batch)}; per channel and batch: one HMGET (the type check of
 * the position key as well), one TYPE of the history, one HINCRBY by the frame count, one XADD
 * per frame (only the last one trims), one EXPIRE and one PUBLISH. Per frame nothing but its
 * XADD: frames travel and are stored without their offset (`"offset":N`), which readers add
 * (`frameWithOffset`): the history entry's id is the offset, and a message carries the first.
 */
export const BATCH_CHANNELS_LUA = `
local rcall, rpcall = redis.call, redis.pcall
-- Before any write: false when the position key is not a hash (its HMGET, which reads the
-- epoch, fails) or the history holds something else than a stream.
local function check_channel(channel)
  local position = rpcall('HMGET', channel.position, 'epoch')
  if position.err then return false end
  channel.epoch = position[1]
  local t = rcall('TYPE', channel.history).ok
  return t == 'none' or t == 'stream'
end
-- Advances a checked channel by its frame count with one HINCRBY (channel.first: the offset of
-- its first frame). A channel without a position starts a new epoch, dropping any history left.
local function advance_channel(channel, epoch_candidate)
  if not channel.epoch then
    rcall('DEL', channel.history)
    rcall('HSET', channel.position, 'epoch', epoch_candidate, 'offset', '0')
    channel.epoch = epoch_candidate
  end
  channel.first = rcall('HINCRBY', channel.position, 'offset', channel.frames) - channel.frames + 1
end
-- Appends the channel's frames (list[from..], in offset order) to its history, field 'b' (a
-- frame without its offset). Ids: '<first offset>-0', then '<first offset>-*', which Redis
-- numbers -1, -2...: a frame's offset is the sum of its id's two numbers, and no frame needs a
-- number turned into a string. Only the last XADD trims, approximately: the history keeps at
-- least history_size frames (a read returns no more than that many).
local function append_frames(channel, list, from, history_size, history_ttl)
  local h, last = channel.history, from + channel.frames - 1
  if last < from then return end
  local first_id, next_id = channel.first .. '-0', channel.first .. '-*'
  local frame = list[from]
  local added
  if from == last then added = rpcall('XADD', h, 'MAXLEN', '~', history_size, first_id, 'b', frame)
  else added = rpcall('XADD', h, first_id, 'b', frame) end
  if type(added) == 'table' and added.err then
    -- A history ahead of the offset (its position key was lost alone): it cannot be continued.
    rcall('DEL', h)
    if from == last then rcall('XADD', h, 'MAXLEN', '~', history_size, first_id, 'b', frame)
    else rcall('XADD', h, first_id, 'b', frame) end
  end
  for f = from + 1, last - 1 do rcall('XADD', h, next_id, 'b', list[f]) end
  if last > from then rcall('XADD', h, 'MAXLEN', '~', history_size, next_id, 'b', list[last]) end
  rcall('EXPIRE', h, history_ttl)
end
-- The channel's frames of the batch in one message: '<epoch> <first offset>;<byte length of each
-- frame, comma-separated> <the frames, back to back>' (decodeChannelMessages).
local function publish_channel(publish_command, channel, lengths, body)
  rcall(publish_command, channel.name, channel.epoch .. ' ' .. channel.first .. ';' .. lengths .. ' ' .. body)
end
`;
