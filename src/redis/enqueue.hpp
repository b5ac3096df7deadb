// Adding messages to queues, on the key layout upstream Dramatiq shares:
// each message under its id in the hash ns:q.msgs, the id at the tail of
// the list ns:q, then a signal on q's wake-up channel for idle consumers.
//
// Plain commands in one MULTI/EXEC transaction rather than a Lua script:
// redis-server spends about 4 us on a send this way, 16 us running a
// script (INFO commandstats). Producers therefore run no maintenance (they
// hold no messages; consumers' fetches do it), but they do heartbeat, as
// upstream's enqueue script does: tools that read ns:__heartbeats__
// (dramatiq-dashboard's worker list) count every broker that talks to
// the server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dramatiq/message.hpp"
#include "redis/connection.hpp"

namespace dramatiq::redis {

// One queue's messages: id, encoded message, id, encoded message, ...
struct QueueBatch {
  std::string queue;
  std::vector<std::string> id_data_pairs;
};

// Appends the message's Redis id (its redis_message_id option) and its
// encoded bytes to `arguments`.
void add_enqueue_arguments(const Message& message, std::vector<std::string>& arguments);

// Enqueues every batch in one transaction and one round trip, with the
// heartbeat of `broker_id` at `now_ms`; throws ConnectionClosed/
// ConnectionFailed on connection trouble (see check()).
void enqueue(Connection& connection, const std::string& key_namespace, const std::string& broker_id,
             std::int64_t now_ms, std::vector<QueueBatch> batches);

// The transaction enqueue() sends: MULTI, the heartbeat, each batch's
// commands, EXEC. A caller may add commands between MULTI and EXEC.
std::vector<Command> enqueue_transaction(const std::string& key_namespace, const std::string& broker_id,
                                         std::int64_t now_ms, std::vector<QueueBatch> batches);
// Checks the replies to such a transaction; false when EXEC answered nil
// (a WATCHed key changed: nothing was done).
bool transaction_ran(const std::vector<Reply>& replies);

}  // namespace dramatiq::redis
