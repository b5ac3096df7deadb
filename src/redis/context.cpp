#include "redis/context.hpp"

#include <random>
#include <stdexcept>

#include "dramatiq/errors.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq::redis {

BrokerContext::BrokerContext(RedisBrokerOptions options)
    : heartbeat_timeout_ms(options.heartbeat_timeout_ms),
      dead_message_ttl_ms(options.dead_message_ttl_ms),
      maintenance_chance(options.maintenance_chance),
      options_(std::move(options)),
      broker_id_(generate_message_id()),
      pool_(options_.connection),
      last_maintenance_ms_(current_millis()) {}

std::string BrokerContext::broker_id() const {
  std::lock_guard lock(broker_id_mutex_);
  return broker_id_;
}

void BrokerContext::set_broker_id(std::string id) {
  if (id.empty()) throw std::invalid_argument("a Redis broker id must not be empty");
  std::lock_guard lock(broker_id_mutex_);
  broker_id_ = std::move(id);
}

bool BrokerContext::maintenance_due() {
  // Upstream's odds per command, plus a floor: at least once per heartbeat
  // timeout, so a quiet deployment still recovers a dead worker's messages.
  thread_local std::mt19937 random(std::random_device{}());
  if (std::uniform_int_distribution<int>(1, kRedisMaintenanceScale)(random) <= maintenance_chance.load()) {
    return true;
  }
  std::int64_t now = current_millis();
  std::int64_t last = last_maintenance_ms_.load();
  return now - last >= heartbeat_timeout_ms.load() &&
         last_maintenance_ms_.compare_exchange_strong(last, now);
}

Command BrokerContext::invocation(Operation operation, const std::string& queue,
                                  std::vector<std::string> arguments) {
  std::vector<std::string> all{std::to_string(current_millis()), queue, broker_id(),
                               std::to_string(heartbeat_timeout_ms.load()),
                               std::to_string(dead_message_ttl_ms.load()),
                               maintenance_due() ? "1" : "0"};
  all.reserve(all.size() + arguments.size());
  for (auto& argument : arguments) all.push_back(std::move(argument));
  return ScriptRunner::invocation(script(operation), {options_.key_namespace}, std::move(all));
}

Reply BrokerContext::run(Connection& connection, Operation operation, const std::string& queue,
                         std::vector<std::string> arguments) {
  return std::move(run_all(connection, {invocation(operation, queue, std::move(arguments))}).front());
}

std::vector<Reply> BrokerContext::run_all(Connection& connection,
                                          const std::vector<Command>& invocations) {
  std::vector<Reply> replies = broker_scripts().run_all(connection, invocations);
  for (const auto& reply : replies) check(reply);
  return replies;
}

}  // namespace dramatiq::redis
