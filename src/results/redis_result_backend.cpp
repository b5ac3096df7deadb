#include "dramatiq/redis_result_backend.hpp"

#include <cstdio>

#include "redis/connection_pool.hpp"
#include "redis/context.hpp"

namespace dramatiq {

RedisResultBackend::RedisResultBackend(RedisConnectionOptions connection, ResultBackendOptions options)
    : ResultBackend(std::move(options)), pool_(std::make_unique<redis::ConnectionPool>(std::move(connection))) {}

RedisResultBackend::~RedisResultBackend() = default;

void RedisResultBackend::put(const std::string& key, const Value& stored, std::int64_t ttl_ms) {
  std::string data = encode(stored);
  auto connection = pool_->acquire();
  // One transaction: a reader never sees the key empty or without its TTL.
  auto replies = connection->pipeline({{"MULTI"},
                                       {"DEL", key},
                                       {"LPUSH", key, std::move(data)},
                                       {"PEXPIRE", key, std::to_string(ttl_ms)},
                                       {"EXEC"}});
  for (const auto& reply : replies) redis::check(reply);
  for (const auto& reply : replies.back().elements) redis::check(reply);
}

std::optional<Value> RedisResultBackend::get(const std::string& key) {
  auto connection = pool_->acquire();
  redis::Reply reply = connection->call({"LINDEX", key, "0"});
  redis::check(reply);
  if (reply.is_nil()) return std::nullopt;
  return decode(reply.str);
}

std::optional<Value> RedisResultBackend::wait(const std::string& key, std::chrono::milliseconds timeout) {
  // BRPOPLPUSH onto the same key leaves the one-element list as it was,
  // and returns as soon as a result is pushed. Its timeout is in seconds,
  // fractional since Redis 6; 0 would mean forever.
  if (timeout.count() <= 0) return get(key);
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(timeout.count()) / 1000.0);
  auto connection = pool_->acquire();
  redis::Reply reply = connection->call_blocking({"BRPOPLPUSH", key, key, seconds}, timeout);
  redis::check(reply);
  if (reply.is_nil()) return std::nullopt;
  return decode(reply.str);
}

}  // namespace dramatiq
