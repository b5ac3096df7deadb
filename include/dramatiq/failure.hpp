// Why processing a message failed: the exception an actor or hook raised,
// in a form the engine can inspect without the host language.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>

#include "dramatiq/value.hpp"

namespace dramatiq {

struct Failure {
  // Exception class name: "ValueError" for Python, the demangled C++ class
  // name for C++ ("std::runtime_error", "app::PaymentDeclined").
  std::string type_name;
  std::string message;    // str(exception)
  std::string traceback;  // formatted traceback, when known
  // The host (Python) exception object, when the failure came from Python;
  // a CaughtException when a C++ actor threw.
  ForeignPtr host_exception;
  bool is_retry = false;  // dramatiq.Retry: retried without an error log
  std::optional<std::int64_t> retry_delay;
  bool is_rate_limit_exceeded = false;
  // The message was cancelled while it ran (dramatiq::Cancelled, Python's
  // dramatiq.Cancelled): not retried; its result is this failure.
  bool is_cancellation = false;

  // Whether this failure matches `classes`: a host class/tuple (Foreign), a
  // type name (String), or an Array of those.
  bool matches(const Value& classes) const;

  // Builds a Failure from a C++ exception caught by the engine.
  static Failure from_exception(const std::exception_ptr& error);
};

// The readable name of a C++ type ("std::runtime_error", not
// "St13runtime_error"): what C++ failures are named by, so that `throws`
// and `retry_when` can name them and results carry a name people read.
std::string demangled_name(const std::type_info& type);

// A C++ exception an actor threw, kept as the failure's host_exception so
// that C++ matchers (dramatiq::exception_types<...>, retry_when) can test its
// dynamic type, base classes included, after the stack unwound.
class CaughtException : public ForeignObject {
 public:
  CaughtException(std::exception_ptr error, std::string type_name, std::string message)
      : error_(std::move(error)), type_name_(std::move(type_name)), message_(std::move(message)) {}
  std::string type_name() const override { return type_name_; }
  const std::string& message() const { return message_; }
  const std::exception_ptr& error() const { return error_; }
  // True when `classes` is an ExceptionClasses that matches this exception.
  bool is_instance_of(const ForeignObject& classes) const override;

 private:
  std::exception_ptr error_;
  std::string type_name_;
  std::string message_;
};

// A set of C++ exception classes, as an option value (`throws`): matches a
// CaughtException whose exception is one of them or derives from one.
// Build one with dramatiq::exception_types<...>() (dramatiq/typed_actor.hpp).
class ExceptionClasses : public ForeignObject {
 public:
  virtual bool matches(const std::exception_ptr& error) const = 0;
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
