-- The start of every broker script: names the keys, records the caller's
-- heartbeat and, when asked, runs maintenance. Each script is this prelude
-- followed by its own body (see scripts.cpp).
--
-- KEYS = {namespace}; ARGV = {now_ms, queue, worker_id, heartbeat_timeout_ms,
-- dead_message_ttl_ms, run_maintenance ("1"/"0"), ...operation arguments}.
--
-- Keys (ns = namespace, q = queue), upstream Dramatiq's layout: ns:q is the
-- list of waiting message ids, ns:q.msgs the hash id -> encoded message; dead
-- letters of q and of q.DQ live in the sorted set ns:q.XQ (scored by when
-- they died) and the hash ns:q.XQ.msgs. ns:__acks__.<worker>.<q> holds the
-- ids a worker took from q and has not settled; ns:__heartbeats__ scores
-- workers by when they were last heard from.
local ns = KEYS[1]
local now = tonumber(ARGV[1])
local queue = ARGV[2]
local worker = ARGV[3]
local heartbeat_timeout = tonumber(ARGV[4])
local dead_message_ttl = tonumber(ARGV[5])
local run_maintenance = ARGV[6] == "1"
local FIRST_ARG = 7

local base_queue = queue
if string.sub(queue, -3) == ".DQ" then
  base_queue = string.sub(queue, 1, -4)
end
local queue_key = ns .. ":" .. queue
local messages_key = queue_key .. ".msgs"
local dead_key = ns .. ":" .. base_queue .. ".XQ"
local dead_messages_key = dead_key .. ".msgs"
local heartbeats_key = ns .. ":__heartbeats__"
local acks_prefix = ns .. ":__acks__."
local acks_key = acks_prefix .. worker .. "." .. queue

local function wake(name)
  redis.call("publish", ns .. ":__wakeup__." .. name, "")
end

-- Lua's stack limits how many values one call can take: go in slices.
local SLICE = 1000
local function call_in_slices(command, key, items, first, last)
  first = first or 1
  last = last or #items
  local replies = {}
  for from = first, last, SLICE do
    local reply = redis.call(command, key, unpack(items, from, math.min(from + SLICE - 1, last)))
    if type(reply) == "table" then
      for _, item in ipairs(reply) do replies[#replies + 1] = item end
    end
  end
  return replies
end

local function glob_escape(text)
  return (string.gsub(text, "([%*%?%[%]\\])", "\\%1"))
end

redis.call("zadd", heartbeats_key, now, worker)

if run_maintenance then
  -- Workers not heard from within the heartbeat timeout are gone: put
  -- what they took and never settled back on its queue, on every queue.
  local gone = redis.call("zrangebyscore", heartbeats_key, "-inf", now - heartbeat_timeout)
  for _, gone_worker in ipairs(gone) do
    local prefix = acks_prefix .. gone_worker .. "."
    for _, ack_set in ipairs(redis.call("keys", glob_escape(prefix) .. "*")) do
      local owner_queue = string.sub(ack_set, #prefix + 1)
      local owner_key = ns .. ":" .. owner_queue
      local returned = 0
      for _, id in ipairs(redis.call("smembers", ack_set)) do
        if redis.call("hexists", owner_key .. ".msgs", id) == 1 then
          redis.call("rpush", owner_key, id)
          returned = returned + 1
        end
      end
      redis.call("del", ack_set)
      if returned > 0 then wake(owner_queue) end
    end
    redis.call("zrem", heartbeats_key, gone_worker)
  end
  -- Dead letters are kept for dead_message_ttl only.
  local expired = redis.call("zrangebyscore", dead_key, "-inf", now - dead_message_ttl)
  if #expired > 0 then
    call_in_slices("zrem", dead_key, expired)
    call_in_slices("hdel", dead_messages_key, expired)
  end
end
