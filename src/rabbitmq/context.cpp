#include "rabbitmq/context.hpp"

namespace dramatiq::rabbitmq {

BrokerContext::BrokerContext(RabbitmqBrokerOptions options)
    : options_((options.validate(), std::move(options))), pool_(options_) {}

void BrokerContext::mark_pending(const std::string& canonical) {
  std::lock_guard lock(pending_mutex_);
  pending_.insert(canonical);
}

bool BrokerContext::is_pending(const std::string& canonical) {
  std::lock_guard lock(pending_mutex_);
  return pending_.count(canonical) > 0;
}

void BrokerContext::mark_declared(const std::string& canonical) {
  std::lock_guard lock(pending_mutex_);
  pending_.erase(canonical);
}

std::string BrokerContext::register_consumer(RabbitmqConsumer* consumer, const std::string& queue) {
  std::lock_guard lock(consumers_mutex_);
  std::string lane = queue + "#" + std::to_string(next_lane_++);
  consumers_[lane] = consumer;
  return lane;
}

void BrokerContext::unregister_consumer(const std::string& lane) {
  std::lock_guard lock(consumers_mutex_);
  consumers_.erase(lane);
}

void BrokerContext::held_changed(const std::string& queue, std::int64_t delta) {
  {
    std::lock_guard lock(held_mutex_);
    held_[queue] += delta;
    held_version_ += 1;
  }
  held_changed_.notify_all();
}

std::int64_t BrokerContext::held(const std::string& queue) {
  std::lock_guard lock(held_mutex_);
  auto it = held_.find(queue);
  return it == held_.end() ? 0 : it->second;
}

void BrokerContext::wait_for_held_change(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(held_mutex_);
  std::uint64_t version = held_version_;
  held_changed_.wait_until(lock, deadline, [&] { return held_version_ != version; });
}

}  // namespace dramatiq::rabbitmq
