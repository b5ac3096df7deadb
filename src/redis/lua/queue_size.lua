-- q's and q.DQ's messages counted as upstream's RedisBroker.do_qsize counts
-- them: every message in their .msgs hashes, plus every one this worker
-- holds unsettled (so a message this worker is processing counts twice).
local base_key = ns .. ":" .. base_queue
local acks_key = ns .. ":__acks__." .. worker .. "." .. base_queue
return redis.call("hlen", base_key .. ".msgs") + redis.call("scard", acks_key) +
       redis.call("hlen", base_key .. ".DQ.msgs") + redis.call("scard", acks_key .. ".DQ")
