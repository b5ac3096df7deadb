-- Puts dead letters back at the end of their queue, to run again.
-- ARGV from FIRST_ARG: "all" or "ids", then the ids. Returns how many went back.
local ids = {}
if ARGV[FIRST_ARG] == "all" then
  ids = redis.call("zrange", dead_key, 0, -1)
else
  for i = FIRST_ARG + 1, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local moved = 0
for _, id in ipairs(ids) do
  local data = redis.call("hget", dead_messages_key, id)
  if data then
    redis.call("hdel", dead_messages_key, id)
    redis.call("zrem", dead_key, id)
    redis.call("hset", messages_key, id, data)
    redis.call("rpush", queue_key, id)
    moved = moved + 1
  end
end
if moved > 0 then
  wake(queue)
end
return moved
