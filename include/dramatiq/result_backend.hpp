// Result backends: where the Results middleware keeps what actors return,
// and how callers get it back. Keys and stored values follow upstream
// Dramatiq, so results written by upstream workers are read here and the
// reverse.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/failure.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

class ResultError : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};
// No result is stored (yet) for the message.
class ResultMissing : public ResultError {
 public:
  using ResultError::ResultError;
};
// A blocking wait for a result ran out of time.
class ResultTimeout : public ResultError {
 public:
  using ResultError::ResultError;
};
// The actor failed for good; carries its exception's type name and text.
class ResultFailure : public ResultError {
 public:
  ResultFailure(std::string exception_type, std::string exception_message);
  std::string exception_type;
  std::string exception_message;
};

// What a failure is stored as: {"__t": "dramatiq.results.Result",
// "exn": {"type": <class name>, "msg": <text>}}.
Value wrap_exception(const std::string& type_name, const std::string& message);
// Throws ResultFailure when `stored` is a wrapped exception; otherwise
// returns it unchanged.
const Value& unwrap_result(const Value& stored);
// Whether `stored` is a wrapped exception.
bool is_wrapped_exception(const Value& stored);

struct ResultBackendOptions {
  std::string key_namespace = "dramatiq-results";
  // Readable keys "<namespace>:<queue>:<actor>:<id>" instead of their md5.
  bool use_namespace_prefix_keys = false;
  // Encodes stored values; null means the process-wide encoder.
  std::shared_ptr<Encoder> encoder;
};

class ResultBackend {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{10000};

  explicit ResultBackend(ResultBackendOptions options = {});
  virtual ~ResultBackend() = default;

  // md5 hex of "<namespace>:<queue without .DQ>:<actor>:<message id>", or
  // that string itself with use_namespace_prefix_keys.
  virtual std::string build_message_key(const Message& message) const;

  void store_result(const Message& message, const Value& result, std::int64_t ttl_ms);
  void store_exception(const Message& message, const Failure& failure, std::int64_t ttl_ms);

  // The stored value, not unwrapped. Throws ResultMissing when there is
  // none and `block` is false, ResultTimeout when none arrives in time.
  Value get_stored(const Message& message, bool block,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // The actor's result: get_stored, then unwrap_result.
  Value get_result(const Message& message, bool block,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  const ResultBackendOptions& options() const { return options_; }

  // Storage primitives, on values before encoding (native backends encode
  // with encode()/decode(); host-language backends store what they like).
  virtual void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) = 0;
  virtual std::optional<Value> get(const std::string& key) = 0;
  // Waits until `key` holds a value or `timeout` passes. This default polls
  // get() with short, growing pauses; backends that can block on the server
  // (or on a condition variable) override it.
  virtual std::optional<Value> wait(const std::string& key, std::chrono::milliseconds timeout);

 protected:
  std::string encode(const Value& value) const;
  Value decode(std::string_view data) const;

 private:
  ResultBackendOptions options_;
};

}  // namespace dramatiq
