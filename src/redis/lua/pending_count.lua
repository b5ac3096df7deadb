-- Messages not yet fully processed on q and q.DQ. A message stays in its
-- .msgs hash until it is acked or dead-lettered, whoever holds it.
local base_key = ns .. ":" .. base_queue
return redis.call("hlen", base_key .. ".msgs") + redis.call("hlen", base_key .. ".DQ.msgs")
