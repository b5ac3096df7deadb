// Rate limiter counters in Redis. Upstream Dramatiq keeps them as plain
// decimal strings with a PX expiry and updates them with WATCH/MULTI
// retries; Lua scripts give the same result atomically in one round trip,
// and both kinds of client can update the same key.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "dramatiq/rate_limit_backends.hpp"
#include "embedded_lua/rate_limits.hpp"
#include "redis/connection_pool.hpp"
#include "redis/script_runner.hpp"

namespace dramatiq {

namespace {

using redis::LuaScript;

// The scripts live in src/rate_limits/lua/ (see each file for its keys
// and arguments).
const LuaScript& bounded_increment() {
  static const LuaScript script{std::string(rate_limits::lua::bounded_increment)};
  return script;
}

const LuaScript& bounded_decrement() {
  static const LuaScript script{std::string(rate_limits::lua::bounded_decrement)};
  return script;
}

const LuaScript& increment_within_sum() {
  static const LuaScript script{std::string(rate_limits::lua::increment_within_sum)};
  return script;
}

const LuaScript& post_event() {
  static const LuaScript script{std::string(rate_limits::lua::post_event)};
  return script;
}

const redis::ScriptRunner& rate_limit_scripts() {
  static const redis::ScriptRunner runner(
      {&bounded_increment(), &bounded_decrement(), &increment_within_sum(), &post_event()});
  return runner;
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(timeout.count()) / 1000.0);
  return text;
}

}  // namespace

class RedisRateLimiterBackend::Impl {
 public:
  explicit Impl(RedisConnectionOptions options)
      : options_(std::move(options)),
        pool_(std::make_unique<redis::ConnectionPool>(options_)),
        pid_(getpid()) {}
  ~Impl() {
    // Connections inherited across fork() belong to the parent: closing
    // them here could end its TLS sessions.
    if (pid_ != getpid()) (void)pool_.release();
  }

  // The pool of this process. A backend created before fork() (at import
  // time, say) must not share the parent's sockets: the child starts a
  // pool of its own and leaves the inherited connections alone.
  redis::ConnectionPool& pool() {
    if (pid_.load(std::memory_order_acquire) != getpid()) {
      std::lock_guard lock(mutex_);
      if (pid_.load() != getpid()) {
        (void)pool_.release();
        pool_ = std::make_unique<redis::ConnectionPool>(options_);
        pid_ = getpid();
      }
    }
    return *pool_;
  }

  // Runs a script by its digest (loaded again if the server forgot it).
  redis::Reply run(const LuaScript& script, const std::vector<std::string>& keys,
                   std::vector<std::string> arguments) {
    auto connection = pool().acquire();
    redis::Reply reply = rate_limit_scripts().run(
        *connection, redis::ScriptRunner::invocation(script, keys, std::move(arguments)));
    redis::check(reply);
    return reply;
  }

  bool run_flag(const LuaScript& script, const std::vector<std::string>& keys,
                std::vector<std::string> arguments) {
    return run(script, keys, std::move(arguments)).integer == 1;
  }

  const RedisConnectionOptions& options() const { return options_; }

 private:
  RedisConnectionOptions options_;
  std::mutex mutex_;
  std::unique_ptr<redis::ConnectionPool> pool_;
  std::atomic<pid_t> pid_;
};

RedisRateLimiterBackend::RedisRateLimiterBackend(RedisConnectionOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
RedisRateLimiterBackend::~RedisRateLimiterBackend() = default;

const RedisConnectionOptions& RedisRateLimiterBackend::options() const { return impl_->options(); }

bool RedisRateLimiterBackend::add(const std::string& key, std::int64_t value, std::int64_t ttl) {
  auto connection = impl_->pool().acquire();
  redis::Reply reply = connection->call({"SET", key, std::to_string(value), "PX", std::to_string(ttl), "NX"});
  redis::check(reply);
  return !reply.is_nil();
}

bool RedisRateLimiterBackend::incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                                   std::int64_t ttl) {
  return impl_->run_flag(bounded_increment(), {key},
                         {std::to_string(amount), std::to_string(maximum), std::to_string(ttl)});
}

bool RedisRateLimiterBackend::decr(const std::string& key, std::int64_t amount, std::int64_t minimum,
                                   std::int64_t ttl) {
  return impl_->run_flag(bounded_decrement(), {key},
                         {std::to_string(amount), std::to_string(minimum), std::to_string(ttl)});
}

bool RedisRateLimiterBackend::incr_and_sum(const std::string& key, const KeysFunction& keys,
                                           std::int64_t amount, std::int64_t maximum, std::int64_t ttl) {
  std::vector<std::string> all{key};
  for (auto& k : keys()) all.push_back(std::move(k));
  return impl_->run_flag(increment_within_sum(), all,
                         {std::to_string(amount), std::to_string(maximum), std::to_string(ttl)});
}

bool RedisRateLimiterBackend::wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) {
  if (timeout && timeout->count() <= 0) {
    auto connection = impl_->pool().acquire();
    redis::Reply reply = connection->call({"RPOPLPUSH", key, key});
    redis::check(reply);
    return reply.type == redis::Reply::Type::String && reply.str == "x";
  }
  // A connection of its own: it sits in a blocking call that may outlive
  // the client's socket timeout, and it must not go back to the pool if the
  // reply never comes.
  auto connection = impl_->pool().open();
  connection->send({"BRPOPLPUSH", key, key, timeout ? seconds_text(*timeout) : "0"});
  // The server answers when its own timeout runs out; allow for a slow
  // server on top.
  std::optional<redis::Reply> reply;
  if (timeout) {
    reply = connection->read(*timeout + std::chrono::seconds(10));
    if (!reply) throw ConnectionClosed("Redis did not answer a blocking wait on '" + key + "'");
  } else {
    while (!(reply = connection->read(std::chrono::hours(1)))) {
    }
  }
  redis::check(*reply);
  return reply->type == redis::Reply::Type::String && reply->str == "x";
}

void RedisRateLimiterBackend::wait_notify(const std::string& key, std::int64_t ttl) {
  impl_->run(post_event(), {key}, {std::to_string(ttl)});
}

}  // namespace dramatiq
