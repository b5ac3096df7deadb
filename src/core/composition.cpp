#include "dramatiq/composition.hpp"

#include <algorithm>
#include <stdexcept>

#include "dramatiq/typed_actor.hpp"

namespace dramatiq {

void link_pipeline(std::vector<Message>& messages) {
  // From the back: each pipe_target carries the whole rest of the chain.
  for (std::size_t i = messages.size(); i-- > 1;) {
    messages[i - 1].options.set("pipe_target", messages[i].to_value());
  }
}

Pipeline::Pipeline(std::shared_ptr<Broker> broker, std::vector<Message> messages)
    : broker_(std::move(broker)), messages_(std::move(messages)) {
  if (messages_.empty()) throw std::invalid_argument("a pipeline needs at least one message");
  link_pipeline(messages_);
}

Pipeline& Pipeline::run(std::optional<std::chrono::milliseconds> delay) {
  Delay ms;
  if (delay) ms = static_cast<std::int64_t>(delay->count());
  broker_->enqueue(messages_.front(), ms);
  return *this;
}

Value Pipeline::get_result_value(std::chrono::milliseconds timeout) const {
  return result_backend_of(*broker_)->get_result(messages_.back(), true, timeout);
}

Group::Group(std::shared_ptr<Broker> broker, std::vector<Message> messages)
    : broker_(std::move(broker)), messages_(std::move(messages)) {}

Group& Group::run(std::optional<std::chrono::milliseconds> delay) {
  Delay ms;
  if (delay) ms = static_cast<std::int64_t>(delay->count());
  broker_->enqueue_all(messages_, ms);
  return *this;
}

std::vector<Value> Group::get_result_values(std::chrono::milliseconds timeout) const {
  auto backend = result_backend_of(*broker_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<Value> out;
  for (const Message& message : messages_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    out.push_back(backend->get_result(message, true, std::max(left, std::chrono::milliseconds(0))));
  }
  return out;
}

}  // namespace dramatiq
