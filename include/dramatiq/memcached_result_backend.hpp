// A result backend on memcached, storing results as upstream Dramatiq's
// pylibmc-based backend does (the encoded bytes, expiring after the TTL in
// whole seconds), so either side reads the other's results. Memcached
// cannot block: waits poll.
#pragma once

#include <memory>

#include "dramatiq/memcached_options.hpp"
#include "dramatiq/result_backend.hpp"

namespace dramatiq {

namespace memcached {
class Client;
}

class MemcachedResultBackend : public ResultBackend {
 public:
  explicit MemcachedResultBackend(MemcachedOptions connection, ResultBackendOptions options = {});
  ~MemcachedResultBackend() override;

  void put(const std::string& key, const Value& stored, std::int64_t ttl_ms) override;
  std::optional<Value> get(const std::string& key) override;

  const MemcachedOptions& connection() const;

 private:
  std::unique_ptr<memcached::Client> client_;
};

}  // namespace dramatiq
