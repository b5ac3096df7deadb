// The rate limiter backends that ship with the engine.
#pragma once

#include <memory>

#include "dramatiq/memcached_options.hpp"
#include "dramatiq/rate_limits.hpp"
#include "dramatiq/redis_options.hpp"
#include "dramatiq/sqlite_backend_options.hpp"

namespace dramatiq {

// Counters in this process's memory: for tests and single-process programs.
// A notification is remembered until its ttl runs out, so a party that
// starts waiting after it still sees it (as with Redis).
class StubRateLimiterBackend : public RateLimiterBackend {
 public:
  StubRateLimiterBackend();
  ~StubRateLimiterBackend() override;
  bool add(const std::string& key, std::int64_t value, std::int64_t ttl) override;
  bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum, std::int64_t ttl) override;
  bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum, std::int64_t ttl) override;
  // incr alone: a missing key counts as 0, so no separate add is needed.
  bool add_or_incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                   std::int64_t ttl) override {
    return incr(key, amount, maximum, ttl);
  }
  bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                    std::int64_t maximum, std::int64_t ttl) override;
  bool wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) override;
  void wait_notify(const std::string& key, std::int64_t ttl) override;
  // The live value of a key, if any (for tests and inspection).
  std::optional<std::int64_t> get(const std::string& key);

 private:
  class State;
  std::unique_ptr<State> state_;
};

// Counters in Redis, stored as upstream stores them: plain decimal strings
// under the limiter's own keys (no namespace), with PX expiry; events are a
// list of "x" under `<key>@events`. Atomic through Lua scripts.
class RedisRateLimiterBackend : public RateLimiterBackend {
 public:
  explicit RedisRateLimiterBackend(RedisConnectionOptions options);
  ~RedisRateLimiterBackend() override;
  bool add(const std::string& key, std::int64_t value, std::int64_t ttl) override;
  bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum, std::int64_t ttl) override;
  bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum, std::int64_t ttl) override;
  // incr alone: a missing key counts as 0, so no separate add is needed.
  bool add_or_incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                   std::int64_t ttl) override {
    return incr(key, amount, maximum, ttl);
  }
  bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                    std::int64_t maximum, std::int64_t ttl) override;
  // Blocks on the server (BRPOPLPUSH), not by polling.
  bool wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) override;
  void wait_notify(const std::string& key, std::int64_t ttl) override;
  const RedisConnectionOptions& options() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Counters in memcached, stored as pylibmc stores Python ints (decimal
// text, flags 4), so upstream's pylibmc-based backend reads and updates
// the same counters. Memcached has no blocking primitive: wait() polls.
// Expiry has one-second resolution (a ttl under a second becomes one).
class MemcachedRateLimiterBackend : public RateLimiterBackend {
 public:
  explicit MemcachedRateLimiterBackend(MemcachedOptions options);
  ~MemcachedRateLimiterBackend() override;
  bool add(const std::string& key, std::int64_t value, std::int64_t ttl) override;
  bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum, std::int64_t ttl) override;
  bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum, std::int64_t ttl) override;
  // incr alone: a missing key counts as 0, so no separate add is needed.
  bool add_or_incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                   std::int64_t ttl) override {
    return incr(key, amount, maximum, ttl);
  }
  bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                    std::int64_t maximum, std::int64_t ttl) override;
  bool wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) override;
  void wait_notify(const std::string& key, std::int64_t ttl) override;
  const MemcachedOptions& options() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Counters in an SQLite file on this host (by default the embedded broker's),
// shared by every process that opens it. Each operation is one write
// transaction (BEGIN IMMEDIATE), so concurrent processes never interleave
// inside one; expired counters read as missing and are purged by later
// writes. wait() sleeps on the file's doorbell, rung by wait_notify in any
// process.
class SQLiteRateLimiterBackend : public RateLimiterBackend {
 public:
  explicit SQLiteRateLimiterBackend(SQLiteBackendOptions options = {});
  ~SQLiteRateLimiterBackend() override;
  bool add(const std::string& key, std::int64_t value, std::int64_t ttl) override;
  bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum, std::int64_t ttl) override;
  bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum, std::int64_t ttl) override;
  // incr alone: a missing key counts as 0, so no separate add is needed.
  bool add_or_incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                   std::int64_t ttl) override {
    return incr(key, amount, maximum, ttl);
  }
  bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                    std::int64_t maximum, std::int64_t ttl) override;
  bool wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) override;
  void wait_notify(const std::string& key, std::int64_t ttl) override;
  // The live value of a counter, if any (for tests and inspection).
  std::optional<std::int64_t> get(const std::string& key);
  const SQLiteBackendOptions& options() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dramatiq
