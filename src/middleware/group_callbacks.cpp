#include "dramatiq/group_callbacks.hpp"

#include <stdexcept>

#include "dramatiq/broker.hpp"

namespace dramatiq {

namespace {

// Python truthiness for the option values a group stamps (a string and a list).
bool truthy(const Value* value) {
  if (!value || value->is_null()) return false;
  if (value->is_string()) return !value->as_string().empty();
  if (value->is_array()) return !value->as_array().empty();
  if (value->is_bool()) return value->as_bool();
  return true;
}

}  // namespace

GroupCallbacks::GroupCallbacks(RateLimiterBackendPtr backend, std::int64_t barrier_ttl)
    : barrier_ttl(barrier_ttl), backend_(std::move(backend)) {
  if (!backend_) throw std::invalid_argument("GroupCallbacks needs a rate limiter backend");
}

bool GroupCallbacks::create_barrier(const std::string& completion_uuid, std::int64_t parties) {
  return Barrier(backend_, completion_uuid, barrier_ttl).create(parties);
}

void GroupCallbacks::after_process_message(Broker& broker, MessageProxy& message, const Value*,
                                           const Failure* failure) {
  if (failure) return;
  const Value* uuid = message.message.options.find("group_completion_uuid");
  const Value* callbacks = message.message.options.find("group_completion_callbacks");
  if (!truthy(uuid) || !truthy(callbacks) || !uuid->is_string() || !callbacks->is_array()) return;
  Barrier barrier(backend_, uuid->as_string(), barrier_ttl);
  if (!barrier.wait(/*block=*/false)) return;
  for (const Value& callback : callbacks->as_array()) broker.enqueue(Message::from_value(callback));
}

}  // namespace dramatiq
