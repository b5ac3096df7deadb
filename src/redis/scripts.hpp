// The Lua scripts that implement the broker's operations atomically on the
// server, on the key layout upstream Dramatiq uses (see scripts.cpp).
// Enqueueing is a plain transaction instead: see enqueue.hpp.
#pragma once

#include <string>

namespace dramatiq::redis {

struct Script {
  std::string source;
  std::string sha1;  // hex, for EVALSHA
};

// Every script is called with KEYS = {namespace} and ARGV =
// {now_ms, queue, worker_id, heartbeat_timeout_ms, dead_message_ttl_ms,
//  run_maintenance ("1"/"0"), ...operation arguments}.
enum class Operation {
  Fetch,      // wanted, ack_count, ack ids..., nack ids...  -> {id, data|nil, ...}
  Requeue,    // ids...
  Purge,      // (none)
  PendingCount,  // (none) -> messages not yet fully processed on q and q.DQ
  Heartbeat,  // (none)
};

const Script& script(Operation operation);

// The Pub/Sub channel producers signal after adding to `queue`, so idle
// consumers wake at once instead of polling.
std::string wakeup_channel(const std::string& key_namespace, const std::string& queue);

}  // namespace dramatiq::redis
