#include "redis/enqueue.hpp"

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"

#include "redis/context.hpp"
#include "redis/scripts.hpp"

namespace dramatiq::redis {

void add_enqueue_arguments(const Message& message, std::vector<std::string>& arguments) {
  const Value* id = message.options.find("redis_message_id");
  arguments.push_back(id && id->is_string() ? id->as_string() : generate_message_id());
  arguments.push_back(encode_for_broker(message));
}

std::vector<Command> enqueue_transaction(const std::string& key_namespace, const std::string& broker_id,
                                         std::int64_t now_ms, std::vector<QueueBatch> batches) {
  std::vector<Command> commands{{"MULTI"}};
  commands.push_back({"ZADD", key_namespace + ":__heartbeats__", std::to_string(now_ms), broker_id});
  for (auto& batch : batches) {
    std::string queue_key = key_namespace + ":" + batch.queue;
    Command store{"HSET", queue_key + ".msgs"};
    Command push{"RPUSH", queue_key};
    store.reserve(2 + batch.id_data_pairs.size());
    push.reserve(2 + batch.id_data_pairs.size() / 2);
    for (std::size_t i = 0; i + 1 < batch.id_data_pairs.size(); i += 2) {
      push.push_back(batch.id_data_pairs[i]);
      store.push_back(std::move(batch.id_data_pairs[i]));
      store.push_back(std::move(batch.id_data_pairs[i + 1]));
    }
    commands.push_back(std::move(store));
    commands.push_back(std::move(push));
    commands.push_back({"PUBLISH", wakeup_channel(key_namespace, batch.queue), ""});
  }
  commands.push_back({"EXEC"});
  return commands;
}

bool transaction_ran(const std::vector<Reply>& replies) {
  // An error while queueing (out of memory, ...) aborts the whole
  // transaction; one while running (a key of the wrong type) is in EXEC's
  // reply. Either way nothing is reported as enqueued.
  for (const auto& reply : replies) {
    check(reply);
    for (const auto& element : reply.elements) check(element);
  }
  return replies.empty() || !replies.back().is_nil();
}

void enqueue(Connection& connection, const std::string& key_namespace, const std::string& broker_id,
             std::int64_t now_ms, std::vector<QueueBatch> batches) {
  if (!transaction_ran(connection.pipeline(enqueue_transaction(key_namespace, broker_id, now_ms, std::move(batches))))) {
    // Only a WATCH left on this connection does that: it cannot be reused.
    throw ConnectionClosed("Redis refused an enqueue transaction (a key watched on its connection changed)");
  }
}

}  // namespace dramatiq::redis
