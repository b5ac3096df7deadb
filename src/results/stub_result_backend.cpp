#include "dramatiq/stub_result_backend.hpp"

namespace dramatiq {

void StubResultBackend::put(const std::string& key, const Value& stored, std::int64_t ttl_ms) {
  std::string data = encode(stored);  // outside the lock: it may call a host encoder
  {
    std::lock_guard lock(mutex_);
    entries_[key] = Entry{std::move(data), std::chrono::steady_clock::now() + std::chrono::milliseconds(ttl_ms)};
  }
  stored_.notify_all();
}

const StubResultBackend::Entry* StubResultBackend::find_live(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (std::chrono::steady_clock::now() >= it->second.expires) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second;
}

std::optional<Value> StubResultBackend::get(const std::string& key) {
  std::string data;
  {
    std::lock_guard lock(mutex_);
    const Entry* entry = find_live(key);
    if (!entry) return std::nullopt;
    data = entry->data;
  }
  return decode(data);
}

std::optional<Value> StubResultBackend::wait(const std::string& key, std::chrono::milliseconds timeout) {
  std::string data;
  {
    std::unique_lock lock(mutex_);
    const Entry* entry = nullptr;
    stored_.wait_for(lock, timeout, [&] { return (entry = find_live(key)) != nullptr; });
    if (!entry) return std::nullopt;
    data = entry->data;
  }
  return decode(data);
}

void StubResultBackend::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace dramatiq
