-- Settles what the worker finished (acks drop the message, nacks move it
-- to the dead letters), then takes up to `wanted` ids off the queue into
-- the worker's ack set and returns them with their messages. Only ids
-- still in the worker's ack set are settled: one that maintenance already
-- handed to another worker belongs to that worker now.
--
-- ARGV from FIRST_ARG: wanted, ack_count, ack ids..., nack ids...
-- Returns {id, data or nil, id, data or nil, ...}.
local wanted = tonumber(ARGV[FIRST_ARG])
local ack_count = tonumber(ARGV[FIRST_ARG + 1])
local first_ack = FIRST_ARG + 2
-- A few calls per batch rather than a few per id: each redis.call costs
-- more than the work it does for one id.
local function still_held(first, last)
  local held = {}
  if last < first then return held end
  local flags = call_in_slices("smismember", acks_key, ARGV, first, last)
  for i, flag in ipairs(flags) do
    if flag == 1 then held[#held + 1] = ARGV[first + i - 1] end
  end
  return held
end
local acked = still_held(first_ack, first_ack + ack_count - 1)
if #acked > 0 then
  call_in_slices("srem", acks_key, acked)
  call_in_slices("hdel", messages_key, acked)
end
local nacked = still_held(first_ack + ack_count, #ARGV)
if #nacked > 0 then
  call_in_slices("srem", acks_key, nacked)
  local data = call_in_slices("hmget", messages_key, nacked)
  local dead_ids, scored, entries = {}, {}, {}
  for i, id in ipairs(nacked) do
    if data[i] then
      dead_ids[#dead_ids + 1] = id
      scored[#scored + 1] = now
      scored[#scored + 1] = id
      entries[#entries + 1] = id
      entries[#entries + 1] = data[i]
    end
  end
  if #dead_ids > 0 then
    -- SLICE is even, so every slice of score/id and id/data pairs is whole.
    call_in_slices("zadd", dead_key, scored)
    call_in_slices("hset", dead_messages_key, entries)
    call_in_slices("hdel", messages_key, dead_ids)
  end
end
if wanted <= 0 then
  return {}
end
local ids = redis.call("lpop", queue_key, wanted)
if not ids then
  return {}
end
local found = call_in_slices("hmget", messages_key, ids)
local result = {}
local taken = {}
for i, id in ipairs(ids) do
  result[#result + 1] = id
  result[#result + 1] = found[i]
  if found[i] then
    taken[#taken + 1] = id
  end
end
if #taken > 0 then
  call_in_slices("sadd", acks_key, taken)
end
return result
