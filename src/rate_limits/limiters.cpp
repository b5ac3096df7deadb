// The limiter algorithms, on top of any RateLimiterBackend. Keys and
// arithmetic follow upstream Dramatiq, so that our processes and upstream's
// count in the same place.
#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "dramatiq/rate_limits.hpp"

namespace dramatiq {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void require_positive(std::int64_t value, const char* what) {
  if (value < 1) throw std::invalid_argument(std::string(what) + " must be positive");
}

}  // namespace

RateLimiter::RateLimiter(RateLimiterBackendPtr backend, std::string key)
    : backend_(std::move(backend)), key_(std::move(key)) {
  if (!backend_) throw std::invalid_argument("a rate limiter needs a backend");
}

RateLimiter::Slot::~Slot() {
  if (!acquired_) return;
  try {
    limiter_->release();
  } catch (...) {
    // A destructor cannot report it; the slot frees itself when its key
    // expires.
  }
}

RateLimiter::Slot RateLimiter::acquire(bool raise_on_failure) {
  bool acquired = try_acquire();
  if (!acquired && raise_on_failure) {
    throw RateLimitExceeded("rate limit exceeded for key '" + key_ + "'");
  }
  return Slot(this, acquired);
}

// A holder count under the key itself: creating it counts the first holder,
// later holders increment it up to the limit, releasing decrements it.
ConcurrentRateLimiter::ConcurrentRateLimiter(RateLimiterBackendPtr backend, std::string key,
                                             std::int64_t limit, std::int64_t ttl)
    : RateLimiter(std::move(backend), std::move(key)), limit(limit), ttl(ttl) {
  require_positive(limit, "limit");
}

bool ConcurrentRateLimiter::try_acquire() { return backend_->add_or_incr(key_, 1, limit, ttl); }

void ConcurrentRateLimiter::release() { backend_->decr(key_, 1, 0, ttl); }

// One counter per bucket, named `<key>@<bucket start in ms>`, expiring with
// the bucket.
BucketRateLimiter::BucketRateLimiter(RateLimiterBackendPtr backend, std::string key,
                                     std::int64_t limit, std::int64_t bucket)
    : RateLimiter(std::move(backend), std::move(key)), limit(limit), bucket(bucket) {
  require_positive(limit, "limit");
  require_positive(bucket, "bucket");
}

std::string BucketRateLimiter::bucket_key(std::int64_t now) const {
  return key_ + "@" + std::to_string(now - now % bucket);
}

bool BucketRateLimiter::try_acquire() {
  return backend_->add_or_incr(bucket_key(now_ms()), 1, limit, bucket);
}

// One counter per second, named `<key>@<unix seconds>`; an acquisition
// counts in the current second if the window's seconds sum to less than
// the limit.
WindowRateLimiter::WindowRateLimiter(RateLimiterBackendPtr backend, std::string key,
                                     std::int64_t limit, std::int64_t window)
    : RateLimiter(std::move(backend), std::move(key)), limit(limit), window(window) {
  require_positive(limit, "limit");
  require_positive(window, "window");
}

std::vector<std::string> WindowRateLimiter::keys(std::int64_t now_seconds) const {
  std::vector<std::string> keys;
  keys.reserve(static_cast<std::size_t>(window));
  for (std::int64_t i = 0; i < window; ++i) keys.push_back(key_ + "@" + std::to_string(now_seconds - i));
  return keys;
}

std::vector<std::string> WindowRateLimiter::current_keys() const { return keys(now_ms() / 1000); }

bool WindowRateLimiter::try_acquire() {
  auto keys = current_keys();
  return backend_->incr_and_sum(keys.front(), [this] { return current_keys(); }, 1, limit,
                                window * 1000);
}

// The barrier counts down from the number of parties; the party that finds
// it at its last unit (the decrement is refused) clears it and notifies
// the blocked ones.
Barrier::Barrier(RateLimiterBackendPtr backend, std::string key, std::int64_t ttl)
    : ttl(ttl), backend_(std::move(backend)), key_(std::move(key)) {
  if (!backend_) throw std::invalid_argument("a barrier needs a backend");
}

bool Barrier::create(std::int64_t parties) {
  if (parties < 1) throw std::invalid_argument("parties must be a positive integer.");
  return backend_->add(key_, parties, ttl);
}

bool Barrier::arrive() {
  bool cleared = !backend_->decr(key_, 1, 1, ttl);
  if (cleared) backend_->wait_notify(events_key(), ttl);
  return cleared;
}

bool Barrier::wait(bool block, std::optional<std::chrono::milliseconds> timeout) {
  if (!block) return arrive();
  return wait(timeout, nullptr, std::chrono::milliseconds(0));
}

bool Barrier::wait(std::optional<std::chrono::milliseconds> timeout, const std::function<bool()>& keep_waiting,
                   std::chrono::milliseconds poll) {
  if (arrive()) return true;
  if (!keep_waiting) return backend_->wait(events_key(), timeout);
  // The event outlives the wake-up (for its ttl), so waiting again after a
  // slice still sees it.
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeout ? std::optional(Clock::now() + *timeout) : std::nullopt;
  while (true) {
    auto slice = poll;
    if (deadline) {
      slice = std::min(poll, std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()));
      if (slice.count() <= 0) return false;
    }
    if (backend_->wait(events_key(), slice)) return true;
    if (!keep_waiting()) return false;
  }
}

}  // namespace dramatiq
