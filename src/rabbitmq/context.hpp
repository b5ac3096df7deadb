// What a RabbitMQ broker's parts share: its options, the publishing pool,
// the settlement queue and the consumers it routes settlements to, and
// the count of deliveries this process holds unsettled (for join: AMQP
// counts only ready messages).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "broker/settlement_queue.hpp"
#include "dramatiq/rabbitmq_options.hpp"
#include "rabbitmq/publisher.hpp"

namespace dramatiq::rabbitmq {

class RabbitmqConsumer;

class BrokerContext {
 public:
  explicit BrokerContext(RabbitmqBrokerOptions options);

  const RabbitmqBrokerOptions& options() const { return options_; }
  PublisherPool& pool() { return pool_; }

  // ---- queues declared on the broker but maybe not on the server yet
  // (declared lazily, and again when one disappeared).
  void mark_pending(const std::string& canonical);
  bool is_pending(const std::string& canonical);
  void mark_declared(const std::string& canonical);

  // ---- consumers, by settlement lane
  std::string register_consumer(RabbitmqConsumer* consumer, const std::string& queue);
  void unregister_consumer(const std::string& lane);
  // Runs `action` on the consumer of `lane` while it cannot unregister;
  // false when there is none any more.
  template <typename Action>
  bool with_consumer(const std::string& lane, Action&& action) {
    std::lock_guard lock(consumers_mutex_);
    auto it = consumers_.find(lane);
    if (it == consumers_.end()) return false;
    action(*it->second);
    return true;
  }

  // ---- deliveries held by this process's consumers, by queue name
  void held_changed(const std::string& queue, std::int64_t delta);
  std::int64_t held(const std::string& queue);
  // Waits until a held count changes or `deadline`.
  void wait_for_held_change(std::chrono::steady_clock::time_point deadline);

 private:
  const RabbitmqBrokerOptions options_;
  PublisherPool pool_;

  std::mutex pending_mutex_;
  std::set<std::string> pending_;

  std::mutex consumers_mutex_;
  std::map<std::string, RabbitmqConsumer*> consumers_;
  std::uint64_t next_lane_ = 0;

  std::mutex held_mutex_;
  std::condition_variable held_changed_;
  std::map<std::string, std::int64_t> held_;
  std::uint64_t held_version_ = 0;
};

}  // namespace dramatiq::rabbitmq
