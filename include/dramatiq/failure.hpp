// Why processing a message failed: the exception an actor or hook raised,
// in a form the engine can inspect without the host language.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include "dramatiq/value.hpp"

namespace dramatiq {

struct Failure {
  std::string type_name;  // exception class name, e.g. "ValueError"
  std::string message;    // str(exception)
  std::string traceback;  // formatted traceback, when known
  // The host (Python) exception object, when the failure came from Python.
  ForeignPtr host_exception;
  bool is_retry = false;  // dramatiq.Retry: retried without an error log
  std::optional<std::int64_t> retry_delay;
  bool is_rate_limit_exceeded = false;

  // Whether this failure matches `classes`: a host class/tuple (Foreign), a
  // type name (String), or an Array of those.
  bool matches(const Value& classes) const;

  // Builds a Failure from a C++ exception caught by the engine.
  static Failure from_exception(const std::exception_ptr& error);
};

// A C++ exception that carries a ready-made Failure (thrown by host-language
// adapters so a Python exception crosses C++ frames intact).
class HostException : public std::exception {
 public:
  explicit HostException(Failure failure) : failure_(std::move(failure)) {}
  const char* what() const noexcept override { return failure_.message.c_str(); }
  const Failure& failure() const { return failure_; }

 private:
  Failure failure_;
};

}  // namespace dramatiq
