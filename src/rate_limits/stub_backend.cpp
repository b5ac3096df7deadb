// In-memory rate limiter backend: one mutex guards the counters, one
// condition variable wakes waiters when any event is posted.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "dramatiq/rate_limit_backends.hpp"

namespace dramatiq {

using Clock = std::chrono::steady_clock;

class StubRateLimiterBackend::State {
 public:
  struct Entry {
    std::int64_t value;
    Clock::time_point expires;
  };

  // The live value of `key`; expired entries are dropped on the way.
  std::optional<std::int64_t> get(const std::string& key) {
    auto it = entries.find(key);
    if (it == entries.end()) return std::nullopt;
    if (Clock::now() >= it->second.expires) {
      entries.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }
  void put(const std::string& key, std::int64_t value, std::int64_t ttl) {
    entries[key] = Entry{value, Clock::now() + std::chrono::milliseconds(ttl)};
  }
  bool has_event(const std::string& key) {
    auto it = events.find(key);
    if (it == events.end()) return false;
    if (Clock::now() >= it->second) {
      events.erase(it);
      return false;
    }
    return true;
  }

  std::mutex mutex;
  std::condition_variable posted;
  std::unordered_map<std::string, Entry> entries;
  std::unordered_map<std::string, Clock::time_point> events;  // key -> expiry
};

StubRateLimiterBackend::StubRateLimiterBackend() : state_(std::make_unique<State>()) {}
StubRateLimiterBackend::~StubRateLimiterBackend() = default;

bool StubRateLimiterBackend::add(const std::string& key, std::int64_t value, std::int64_t ttl) {
  std::lock_guard lock(state_->mutex);
  if (state_->get(key)) return false;
  state_->put(key, value, ttl);
  return true;
}

bool StubRateLimiterBackend::incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                                  std::int64_t ttl) {
  std::lock_guard lock(state_->mutex);
  std::int64_t value = state_->get(key).value_or(0) + amount;
  if (value > maximum) return false;
  state_->put(key, value, ttl);
  return true;
}

bool StubRateLimiterBackend::decr(const std::string& key, std::int64_t amount, std::int64_t minimum,
                                  std::int64_t ttl) {
  std::lock_guard lock(state_->mutex);
  std::int64_t value = state_->get(key).value_or(0) - amount;
  if (value < minimum) return false;
  state_->put(key, value, ttl);
  return true;
}

bool StubRateLimiterBackend::incr_and_sum(const std::string& key, const KeysFunction& keys,
                                          std::int64_t amount, std::int64_t maximum, std::int64_t ttl) {
  // The keys are computed outside the lock: the function may call back into
  // the host language.
  std::vector<std::string> summed = keys();
  std::lock_guard lock(state_->mutex);
  std::int64_t value = state_->get(key).value_or(0) + amount;
  if (value > maximum) return false;
  std::int64_t total = amount;
  for (const auto& k : summed) total += state_->get(k).value_or(0);
  if (total > maximum) return false;
  state_->put(key, value, ttl);
  return true;
}

bool StubRateLimiterBackend::wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(state_->mutex);
  auto notified = [&] { return state_->has_event(key); };
  if (!timeout) {
    state_->posted.wait(lock, notified);
    return true;
  }
  return state_->posted.wait_for(lock, *timeout, notified);
}

void StubRateLimiterBackend::wait_notify(const std::string& key, std::int64_t ttl) {
  {
    std::lock_guard lock(state_->mutex);
    state_->events[key] = Clock::now() + std::chrono::milliseconds(ttl);
  }
  state_->posted.notify_all();
}

std::optional<std::int64_t> StubRateLimiterBackend::get(const std::string& key) {
  std::lock_guard lock(state_->mutex);
  return state_->get(key);
}

}  // namespace dramatiq
