// A result backend on Redis, storing results as upstream Dramatiq does (a
// one-element list per message key, with a TTL), so upstream and ours read
// each other's results. Blocking waits block on the server (BRPOPLPUSH):
// a waiting caller gets the result as soon as it is stored.
#pragma once

#include <memory>

#include "dramatiq/redis_options.hpp"
#include "dramatiq/result_backend.hpp"

namespace dramatiq {

namespace redis {
class ConnectionPool;
}

class RedisResultBackend : public ResultBackend {
 public:
  explicit RedisResultBackend(RedisConnectionOptions connection, ResultBackendOptions options = {});
  ~RedisResultBackend() override;

  void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) override;
  std::optional<Value> get(const std::string& key) override;
  std::optional<Value> wait(const std::string& key, std::chrono::milliseconds timeout) override;

 private:
  std::unique_ptr<redis::ConnectionPool> pool_;
};

}  // namespace dramatiq
