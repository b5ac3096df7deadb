-- Lists the queue's dead letters, oldest first (the caller passes the
-- canonical queue). ARGV from FIRST_ARG: limit.
-- Returns {id, dead_at_ms, data, id, dead_at_ms, data, ...}.
local limit = tonumber(ARGV[FIRST_ARG])
local scored = redis.call("zrange", dead_key, 0, limit - 1, "WITHSCORES")
local letters = {}
for i = 1, #scored, 2 do
  local data = redis.call("hget", dead_messages_key, scored[i])
  if data then
    letters[#letters + 1] = scored[i]
    letters[#letters + 1] = scored[i + 1]
    letters[#letters + 1] = data
  end
end
return letters
