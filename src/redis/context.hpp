// What every part of the Redis broker shares: its options, its id, the
// connection pool, and how operations are invoked as Lua scripts (run by
// the ScriptRunner the rate-limit backend uses too).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "redis/connection_pool.hpp"
#include "redis/held_messages.hpp"
#include "redis/scripts.hpp"

namespace dramatiq::redis {

class BrokerContext {
 public:
  explicit BrokerContext(RedisBrokerOptions options);

  const RedisBrokerOptions& options() const { return options_; }
  // The maintenance settings each script call carries: the options' at
  // first, changeable while the broker runs (upstream's are attributes).
  std::atomic<std::int64_t> heartbeat_timeout_ms;
  std::atomic<std::int64_t> dead_message_ttl_ms;
  std::atomic<int> maintenance_chance;
  // Settable while the broker runs, as upstream's attribute: later script
  // calls and acks use the new id; what was taken under the old one stays
  // in the old id's ack sets until maintenance returns it to its queues.
  std::string broker_id() const;
  void set_broker_id(std::string id);
  const std::string& key_namespace() const { return options_.key_namespace; }
  ConnectionPool& pool() { return pool_; }
  HeldMessages& held() { return held_; }
  // A host program's replacements for the batched acks and nacks (see
  // RedisBroker::set_host_settlement); null when it has none.
  using HostSettle = std::function<void(const std::string& queue, const std::string& id)>;
  std::atomic<std::shared_ptr<const HostSettle>> host_ack;
  std::atomic<std::shared_ptr<const HostSettle>> host_nack;
  // The set of ids this broker took from `queue` and has not settled.
  std::string ack_set_key(const std::string& queue) const {
    return options_.key_namespace + ":__acks__." + broker_id() + "." + queue;
  }

  // The EVALSHA command for `operation` on `queue` (the caller's heartbeat
  // and, now and then, maintenance included).
  Command invocation(Operation operation, const std::string& queue,
                     std::vector<std::string> arguments = {});
  // Runs one invocation and returns its checked reply.
  Reply run(Connection& connection, Operation operation, const std::string& queue,
            std::vector<std::string> arguments = {});
  // Runs invocations in one round trip; replies are checked, in order.
  std::vector<Reply> run_all(Connection& connection, const std::vector<Command>& invocations);

 private:
  bool maintenance_due();

  RedisBrokerOptions options_;
  mutable std::mutex broker_id_mutex_;
  std::string broker_id_;
  ConnectionPool pool_;
  HeldMessages held_;
  std::atomic<std::int64_t> last_maintenance_ms_;
};

}  // namespace dramatiq::redis
