-- Drops dead letters. ARGV from FIRST_ARG: "all" or "ids", then the ids.
-- Returns how many were dropped.
if ARGV[FIRST_ARG] == "all" then
  local count = redis.call("zcard", dead_key)
  redis.call("del", dead_key, dead_messages_key)
  return count
end
local deleted = 0
for i = FIRST_ARG + 1, #ARGV do
  if redis.call("zrem", dead_key, ARGV[i]) == 1 then
    deleted = deleted + 1
  end
  redis.call("hdel", dead_messages_key, ARGV[i])
end
return deleted
