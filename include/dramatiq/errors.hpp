// The engine's exception hierarchy, mirroring dramatiq's Python one so the
// bindings can translate each class to its Python counterpart.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace dramatiq {

class ForeignObject;

class DramatiqError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BrokerError : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};
class ActorNotFound : public BrokerError {
 public:
  using BrokerError::BrokerError;
};
class QueueNotFound : public BrokerError {
 public:
  using BrokerError::BrokerError;
};
class QueueJoinTimeout : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};
class BrokerConnectionError : public BrokerError {
 public:
  using BrokerError::BrokerError;
};
class ConnectionFailed : public BrokerConnectionError {
 public:
  using BrokerConnectionError::BrokerConnectionError;
};
class ConnectionClosed : public BrokerConnectionError {
 public:
  using BrokerConnectionError::BrokerConnectionError;
};
class DecodeError : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};

// Raised by a middleware's before_* hook to stop what is being emitted
// (other exceptions in hooks are logged and swallowed). `host_exception`
// carries the original Python exception when a Python hook raised it.
class MiddlewareError : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
  std::shared_ptr<ForeignObject> host_exception;
};

// Raised by before_process_message hooks to skip a message.
class SkipMessage : public MiddlewareError {
 public:
  using MiddlewareError::MiddlewareError;
};

// Raised by C++ actors to ask for a retry, optionally after `delay` ms.
class Retry : public DramatiqError {
 public:
  explicit Retry(std::string message = "", std::optional<std::int64_t> delay = std::nullopt)
      : DramatiqError(std::move(message)), delay(delay) {}
  std::optional<std::int64_t> delay;
};

}  // namespace dramatiq
