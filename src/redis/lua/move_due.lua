-- Moves a due message off a delay queue (the queue this script is called
-- on, q.DQ) in one step: its delay-queue copy is acked and the message is
-- stored on its queue, so that it is never on both (counted twice, or run
-- twice after a crash between two writes) nor on neither. Only while the
-- copy is still in this worker's ack set: one that maintenance already
-- handed to another worker is that worker's to move.
--
-- ARGV from FIRST_ARG: delayed id, target queue, id, encoded message.
-- Returns 1 when moved, 0 when the copy was no longer this worker's.
local delayed_id = ARGV[FIRST_ARG]
local target = ARGV[FIRST_ARG + 1]
local id = ARGV[FIRST_ARG + 2]
local data = ARGV[FIRST_ARG + 3]
if redis.call("srem", acks_key, delayed_id) == 0 then
  return 0
end
redis.call("hdel", messages_key, delayed_id)
local target_key = ns .. ":" .. target
redis.call("hset", target_key .. ".msgs", id, data)
redis.call("rpush", target_key, id)
wake(target)
return 1
