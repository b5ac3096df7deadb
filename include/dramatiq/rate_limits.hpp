// Rate limiters and barriers shared by every process that talks to the same
// backend, with upstream Dramatiq's semantics and keys (so upstream workers
// and ours count against one limit).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/errors.hpp"

namespace dramatiq {

// Thrown by RateLimiter::acquire when no slot is free.
class RateLimitExceeded : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};

// Computes the keys a windowed sum covers; called by the backend, possibly
// more than once (an optimistic backend re-reads them when it retries).
using KeysFunction = std::function<std::vector<std::string>()>;

// Where limiters keep their counters: integers under string keys that
// expire. Every operation is atomic across every process using the same
// store. Durations are milliseconds. Implementations must be thread-safe.
class RateLimiterBackend {
 public:
  virtual ~RateLimiterBackend() = default;
  // Stores `value` under `key` unless the key exists; true if stored.
  virtual bool add(const std::string& key, std::int64_t value, std::int64_t ttl) = 0;
  // Adds `amount` unless the result would exceed `maximum` (a missing key
  // counts as 0); true if it did.
  virtual bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                    std::int64_t ttl) = 0;
  // Subtracts `amount` unless the result would fall below `minimum`; true
  // if it did.
  virtual bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum,
                    std::int64_t ttl) = 0;
  // What a limiter taking a slot does: add(key, amount) if the key is
  // missing, else incr(key, amount, maximum). Backends whose incr already
  // treats a missing key as 0 do it in one round trip.
  virtual bool add_or_incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                           std::int64_t ttl) {
    return add(key, amount, ttl) || incr(key, amount, maximum, ttl);
  }
  // Adds `amount` to `key` unless the sum over `keys()` plus `amount` would
  // exceed `maximum`; true if it did.
  virtual bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                            std::int64_t maximum, std::int64_t ttl) = 0;
  // Blocks until wait_notify(key) happened (or had happened, within its
  // ttl) or `timeout` passed (nullopt: no limit); true if notified.
  virtual bool wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) = 0;
  // Wakes the parties waiting on `key`; the event lives for `ttl`.
  virtual void wait_notify(const std::string& key, std::int64_t ttl) = 0;
};

using RateLimiterBackendPtr = std::shared_ptr<RateLimiterBackend>;

// The common shape of a limiter: try to take a slot, give it back.
class RateLimiter {
 public:
  RateLimiter(RateLimiterBackendPtr backend, std::string key);
  virtual ~RateLimiter() = default;

  // Takes a slot if one is free; true if it did. Never blocks on a full limit.
  virtual bool try_acquire() = 0;
  // Gives back a slot taken by try_acquire (a no-op for limiters whose
  // slots expire by themselves).
  virtual void release() = 0;

  // A slot held for a scope: released when the Slot is destroyed.
  class Slot {
   public:
    Slot(RateLimiter* limiter, bool acquired) : limiter_(limiter), acquired_(acquired) {}
    Slot(Slot&& other) noexcept : limiter_(other.limiter_), acquired_(other.acquired_) {
      other.acquired_ = false;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot();
    bool acquired() const { return acquired_; }
    explicit operator bool() const { return acquired_; }

   private:
    RateLimiter* limiter_;
    bool acquired_;
  };
  // try_acquire as a scope. With `raise_on_failure`, a full limit throws
  // RateLimitExceeded instead of returning an unacquired Slot.
  Slot acquire(bool raise_on_failure = true);

  const RateLimiterBackendPtr& backend() const { return backend_; }
  void set_backend(RateLimiterBackendPtr backend) { backend_ = std::move(backend); }
  const std::string& key() const { return key_; }
  void set_key(std::string key) { key_ = std::move(key); }

 protected:
  RateLimiterBackendPtr backend_;
  std::string key_;
};

// At most `limit` holders at a time (a distributed mutex when limit is 1).
// Holders that vanish without releasing free their slot after `ttl` ms.
class ConcurrentRateLimiter : public RateLimiter {
 public:
  // Throws std::invalid_argument when limit < 1.
  static constexpr std::int64_t kDefaultTtl = 900000;  // ms
  ConcurrentRateLimiter(RateLimiterBackendPtr backend, std::string key, std::int64_t limit = 1,
                        std::int64_t ttl = kDefaultTtl);
  bool try_acquire() override;
  void release() override;
  std::int64_t limit;
  std::int64_t ttl;
};

// At most `limit` acquisitions per fixed `bucket` ms interval (aligned on
// multiples of `bucket` since the epoch). Cheap, but bursty at boundaries.
class BucketRateLimiter : public RateLimiter {
 public:
  // Throws std::invalid_argument when limit < 1 or bucket < 1.
  static constexpr std::int64_t kDefaultBucket = 1000;  // ms
  BucketRateLimiter(RateLimiterBackendPtr backend, std::string key, std::int64_t limit = 1,
                    std::int64_t bucket = kDefaultBucket);
  bool try_acquire() override;
  void release() override {}
  // The key of the bucket `now_ms` falls in.
  std::string bucket_key(std::int64_t now_ms) const;
  std::int64_t limit;
  std::int64_t bucket;
};

// At most `limit` acquisitions over any sliding window of `window`
// seconds (one counter per second).
class WindowRateLimiter : public RateLimiter {
 public:
  // Throws std::invalid_argument when limit < 1 or window < 1.
  WindowRateLimiter(RateLimiterBackendPtr backend, std::string key, std::int64_t limit = 1,
                    std::int64_t window = 1);
  bool try_acquire() override;
  void release() override {}
  // The per-second keys of the window ending at `now_seconds`, newest first.
  std::vector<std::string> keys(std::int64_t now_seconds) const;
  std::vector<std::string> current_keys() const;
  std::int64_t limit;
  std::int64_t window;  // seconds
};

// A countdown shared by processes: created for N parties, cleared when the
// N-th party arrives. Keys must be unique per use (e.g. a UUID).
class Barrier {
 public:
  static constexpr std::int64_t kDefaultTtl = 900000;  // ms
  Barrier(RateLimiterBackendPtr backend, std::string key, std::int64_t ttl = kDefaultTtl);
  // Sets up the barrier for `parties` parties; false if it already exists.
  // Throws std::invalid_argument when parties < 1.
  bool create(std::int64_t parties);
  // Marks one party as arrived. True if that cleared the barrier (or, when
  // blocking, once it clears); false if others are still missing (or the
  // timeout passed).
  bool wait(bool block = true, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // wait(true, timeout) that asks `keep_waiting` every `poll` while blocked
  // (from the calling thread) and gives up, returning false, once it
  // answers false: how a caller lets a signal cut the wait short.
  bool wait(std::optional<std::chrono::milliseconds> timeout, const std::function<bool()>& keep_waiting,
            std::chrono::milliseconds poll);

  const RateLimiterBackendPtr& backend() const { return backend_; }
  void set_backend(RateLimiterBackendPtr backend) { backend_ = std::move(backend); }
  const std::string& key() const { return key_; }
  void set_key(std::string key) { key_ = std::move(key); }
  std::string events_key() const { return key_ + "@events"; }
  std::int64_t ttl;

 private:
  // Marks one party as arrived; true if that cleared the barrier.
  bool arrive();
  RateLimiterBackendPtr backend_;
  std::string key_;
};

}  // namespace dramatiq
