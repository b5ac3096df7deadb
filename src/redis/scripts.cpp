#include "redis/scripts.hpp"

#include <openssl/sha.h>

#include <array>
#include <cstdio>

namespace dramatiq::redis {

namespace {

// Shared by every script: names the keys, records the caller's heartbeat
// and, when asked, runs maintenance.
//
// Keys (ns = namespace, q = queue): ns:q is the list of waiting message
// ids, ns:q.msgs the hash id -> encoded message; dead letters of q and of
// q.DQ live in the sorted set ns:q.XQ (scored by when they died) and the
// hash ns:q.XQ.msgs. ns:__acks__.<worker>.<q> holds the ids a worker took
// from q and has not settled; ns:__heartbeats__ scores workers by when they
// were last heard from.
constexpr const char* kPrelude = R"LUA(
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
)LUA";

// Settles what the worker finished (acks drop the message, nacks move it
// to the dead letters), then takes up to `wanted` ids off the queue into
// the worker's ack set and returns them with their messages. Only ids
// still in the worker's ack set are settled: one that maintenance already
// handed to another worker belongs to that worker now.
constexpr const char* kFetch = R"LUA(
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
)LUA";

// Gives back ids the worker took but never processed (on shutdown).
constexpr const char* kRequeue = R"LUA(
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
)LUA";

constexpr const char* kPurge = R"LUA(
redis.call("del", queue_key, messages_key, acks_key, dead_key, dead_messages_key)
)LUA";

// A message stays in its .msgs hash until it is acked or dead-lettered,
// whoever holds it.
constexpr const char* kPendingCount = R"LUA(
local base_key = ns .. ":" .. base_queue
return redis.call("hlen", base_key .. ".msgs") + redis.call("hlen", base_key .. ".DQ.msgs")
)LUA";

constexpr const char* kHeartbeat = "return 1\n";

Script make_script(const char* body) {
  Script script;
  script.source = std::string(kPrelude) + body;
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(script.source.data()), script.source.size(),
       digest.data());
  char hex[3];
  for (unsigned char byte : digest) {
    std::snprintf(hex, sizeof hex, "%02x", byte);
    script.sha1 += hex;
  }
  return script;
}

}  // namespace

const Script& script(Operation operation) {
  static const Script fetch = make_script(kFetch);
  static const Script requeue = make_script(kRequeue);
  static const Script purge = make_script(kPurge);
  static const Script pending_count = make_script(kPendingCount);
  static const Script heartbeat = make_script(kHeartbeat);
  switch (operation) {
    case Operation::Fetch: return fetch;
    case Operation::Requeue: return requeue;
    case Operation::Purge: return purge;
    case Operation::PendingCount: return pending_count;
    case Operation::Heartbeat: return heartbeat;
  }
  return heartbeat;
}

std::string wakeup_channel(const std::string& key_namespace, const std::string& queue) {
  return key_namespace + ":__wakeup__." + queue;
}

}  // namespace dramatiq::redis
