#include "dramatiq/memcached_result_backend.hpp"

#include "memcached/client.hpp"

namespace dramatiq {

MemcachedResultBackend::MemcachedResultBackend(MemcachedOptions connection, ResultBackendOptions options)
    : ResultBackend(std::move(options)), client_(std::make_unique<memcached::Client>(std::move(connection))) {}

MemcachedResultBackend::~MemcachedResultBackend() = default;

const MemcachedOptions& MemcachedResultBackend::connection() const { return client_->options(); }

void MemcachedResultBackend::put(const std::string& key, const Value& stored, std::int64_t ttl_ms) {
  // Plain bytes (pylibmc's flag 0), which is how upstream stores the
  // encoder's output.
  client_->set(key, encode(stored), memcached::flags::kBytes, memcached::expiry_from_ttl(ttl_ms));
}

std::optional<Value> MemcachedResultBackend::get(const std::string& key) {
  auto item = client_->get(key);
  if (!item) return std::nullopt;
  return decode(item->value);
}

}  // namespace dramatiq
