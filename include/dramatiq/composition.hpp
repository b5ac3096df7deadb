// Composing messages, as Python's dramatiq.pipeline and dramatiq.group:
// a Pipeline runs messages one after another, each one's result appended
// to the next one's arguments (unless the next sets pipe_ignore); a Group
// runs messages side by side. Results need the Results middleware.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/convert.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

// Sets each message's pipe_target to the next message (what the Pipelines
// middleware enqueues once the message succeeds).
void link_pipeline(std::vector<Message>& messages);

// Messages run one after another.
class Pipeline {
 public:
  // Throws std::invalid_argument for an empty pipeline.
  Pipeline(std::shared_ptr<Broker> broker, std::vector<Message> messages);
  // Enqueues the first message (the Pipelines middleware enqueues the rest).
  Pipeline& run(std::optional<std::chrono::milliseconds> delay = std::nullopt);
  const std::vector<Message>& messages() const { return messages_; }
  // The last message's result, waiting up to `timeout` (ResultTimeout).
  Value get_result_value(std::chrono::milliseconds timeout) const;
  template <typename R>
  R get_result(std::chrono::milliseconds timeout) const {
    return from_value<R>(get_result_value(timeout));
  }

 private:
  std::shared_ptr<Broker> broker_;
  std::vector<Message> messages_;
};

// Messages run side by side.
class Group {
 public:
  Group(std::shared_ptr<Broker> broker, std::vector<Message> messages);
  // Enqueues every message as one batch.
  Group& run(std::optional<std::chrono::milliseconds> delay = std::nullopt);
  const std::vector<Message>& messages() const { return messages_; }
  // Every message's result, in order, all within `timeout` (ResultTimeout).
  std::vector<Value> get_result_values(std::chrono::milliseconds timeout) const;
  template <typename R>
  std::vector<R> get_results(std::chrono::milliseconds timeout) const {
    std::vector<R> out;
    for (const Value& v : get_result_values(timeout)) out.push_back(from_value<R>(v));
    return out;
  }
  // Waits until every message has a result (ResultTimeout after `timeout`).
  void wait(std::chrono::milliseconds timeout) const { get_result_values(timeout); }

 private:
  std::shared_ptr<Broker> broker_;
  std::vector<Message> messages_;
};

}  // namespace dramatiq
