// The Lua scripts that implement the broker's operations atomically on the
// server, on the key layout upstream Dramatiq uses (src/redis/lua/*.lua,
// embedded at build time). Enqueueing is a plain transaction instead: see
// enqueue.hpp.
#pragma once

#include <string>

#include "redis/script_runner.hpp"

namespace dramatiq::redis {

// Every script is called with KEYS = {namespace} and ARGV =
// {now_ms, queue, worker_id, heartbeat_timeout_ms, dead_message_ttl_ms,
//  run_maintenance ("1"/"0"), ...operation arguments}.
enum class Operation {
  Fetch,      // wanted, ack_count, ack ids..., nack ids...  -> {id, data|nil, ...}
  Requeue,    // ids...
  Purge,      // (none)
  PendingCount,  // (none) -> messages not yet fully processed on q and q.DQ
  QueueSize,     // (none) -> upstream's do_qsize count (see queue_size.lua)
  Heartbeat,  // (none)
  MoveDue,    // delayed id, target queue, id, data -> 1 moved, 0 not this worker's
  DeadLetters,    // limit -> {id, dead_at_ms, data, ...}, oldest first
  RequeueDead,    // "all" | "ids", ids... -> how many went back on the queue
  DeleteDead,     // "all" | "ids", ids... -> how many were dropped
  ListWaiting,    // limit -> {data, "0" ready | "1" delayed, ...}
};

const LuaScript& script(Operation operation);
// Runs the broker's scripts (and loads all of them when the server has
// forgotten them).
const ScriptRunner& broker_scripts();

// The Pub/Sub channel producers signal after adding to `queue`, so idle
// consumers wake at once instead of polling.
std::string wakeup_channel(const std::string& key_namespace, const std::string& queue);

}  // namespace dramatiq::redis
