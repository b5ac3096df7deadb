// A message delivered to a worker, with its processing state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dramatiq/failure.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

struct Actor;

class MessageProxy : public std::enable_shared_from_this<MessageProxy> {
 public:
  MessageProxy() = default;
  MessageProxy(const MessageProxy& other) = default;
  MessageProxy& operator=(const MessageProxy&) = default;
  explicit MessageProxy(Message m) : message(std::move(m)) {}

  Message message;
  bool failed = false;
  // It was cancelled (Broker::cancel): skipped before it ran, or
  // interrupted while running; acked, and its result is a Cancelled failure.
  bool cancelled = false;
  std::optional<Failure> failure;  // the exception "stuffed" into the message
  Value result;                    // the actor's return value, once it ran

  // Set when the delivered bytes could not be decoded: `raw` holds them and
  // `message` only has queue_name filled in.
  std::optional<std::string> decode_error;
  std::string raw;

  // The broker's handle for settling this delivery (a Redis message id, an
  // AMQP delivery tag, a row id...), read only by the consumer that
  // delivered it.
  std::string receipt;

  // The actor this message is for, resolved once when it was delivered
  // (null for an undecodable message or an unknown actor, and for proxies
  // built outside a worker: use actor_of()).
  std::shared_ptr<Actor> actor;

  // The host-language view of this proxy, built on first request and reused
  // for every hook of this delivery.
  ForeignPtr host_view;

  void fail() { failed = true; }
};

}  // namespace dramatiq
