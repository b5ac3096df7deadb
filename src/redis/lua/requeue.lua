-- Gives back ids the worker took but never processed (on shutdown).
-- ARGV from FIRST_ARG: ids. Returns how many went back on the queue.
local returned = 0
for i = FIRST_ARG, #ARGV do
  local id = ARGV[i]
  if redis.call("srem", acks_key, id) == 1 and redis.call("hexists", messages_key, id) == 1 then
    redis.call("rpush", queue_key, id)
    returned = returned + 1
  end
end
if returned > 0 then
  wake(queue)
end
return returned
