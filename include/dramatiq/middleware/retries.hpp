// Retries: failed messages again, with exponential backoff and jitter.
#pragma once

#include <cstdint>

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Retries failed messages with exponential backoff and jitter.
class Retries : public Middleware {
 public:
  static constexpr std::int64_t kDefaultMaxRetries = 20;
  static constexpr std::int64_t kDefaultMinBackoff = 15000;
  static constexpr std::int64_t kDefaultMaxBackoff = 86400000LL * 7;
  Retries(Value max_retries = Value(kDefaultMaxRetries), std::int64_t min_backoff = kDefaultMinBackoff,
          std::int64_t max_backoff = kDefaultMaxBackoff, Value retry_when = Value())
      : max_retries(std::move(max_retries)), min_backoff(min_backoff), max_backoff(max_backoff),
        retry_when(std::move(retry_when)) {}
  std::string name() const override { return "Retries"; }
  std::vector<std::string> actor_options() const override {
    return {"max_retries", "min_backoff", "max_backoff", "retry_when", "throws", "on_retry_exhausted"};
  }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  Value max_retries;  // Int, or Null for unlimited
  std::int64_t min_backoff;
  std::int64_t max_backoff;
  Value retry_when;  // a host callable (retries, exception) -> bool, or Null
};

// Exponential backoff with jitter: (factor * 2**attempts) * U(1, 2), brought
// back into [max/2, max] when it exceeds max_backoff.
std::int64_t compute_backoff(std::int64_t attempts, std::int64_t factor, std::int64_t max_backoff);

}  // namespace dramatiq
