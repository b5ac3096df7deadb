// Rate limiter counters in memcached, in pylibmc's format for Python ints
// (decimal text, flags 4), so upstream Dramatiq's pylibmc backend and this
// one share counters. Where upstream lets a refused increment stay counted
// (it never takes it back), this backend takes it back, so a busy limiter
// does not lose slots.
#include <algorithm>
#include <charconv>
#include <thread>

#include "dramatiq/rate_limit_backends.hpp"
#include "memcached/client.hpp"

namespace dramatiq {

namespace {

// The server may leave trailing spaces after a decrement that shortened
// the number ("10" - 1 reads "9 "), as pylibmc's int() tolerates.
std::int64_t parse_count(const memcached::Item& item) {
  std::int64_t value = 0;
  const char* begin = item.value.data();
  const char* end = begin + item.value.size();
  while (end > begin && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\n')) --end;
  auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end) {
    throw DramatiqError("memcached value is not an integer counter: '" + item.value + "'");
  }
  return value;
}

}  // namespace

class MemcachedRateLimiterBackend::Impl {
 public:
  explicit Impl(MemcachedOptions options) : client(std::move(options)) {}
  memcached::Client client;
};

MemcachedRateLimiterBackend::MemcachedRateLimiterBackend(MemcachedOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
MemcachedRateLimiterBackend::~MemcachedRateLimiterBackend() = default;

const MemcachedOptions& MemcachedRateLimiterBackend::options() const { return impl_->client.options(); }

bool MemcachedRateLimiterBackend::add(const std::string& key, std::int64_t value, std::int64_t ttl) {
  return impl_->client.add(key, std::to_string(value), memcached::flags::kInteger,
                           memcached::expiry_from_ttl(ttl));
}

bool MemcachedRateLimiterBackend::incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                                       std::int64_t ttl) {
  auto& client = impl_->client;
  while (true) {
    auto value = client.incr(key, static_cast<std::uint64_t>(amount));
    if (value) {
      if (static_cast<std::int64_t>(*value) <= maximum) return true;
      client.decr(key, static_cast<std::uint64_t>(amount));  // take the refused increment back
      return false;
    }
    // Missing (expired) counts as zero: create it, unless someone else just
    // did, in which case increment theirs.
    if (amount > maximum) return false;
    std::time_t expiry = memcached::expiry_from_ttl(ttl);
    if (client.add(key, std::to_string(amount), memcached::flags::kInteger, expiry)) return true;
  }
}

bool MemcachedRateLimiterBackend::decr(const std::string& key, std::int64_t amount, std::int64_t minimum,
                                       std::int64_t) {
  // The server stops at 0 rather than going below: a counter at its last
  // unit reads 0 afterwards, which every reader takes as "below minimum 1".
  auto value = impl_->client.decr(key, static_cast<std::uint64_t>(amount));
  if (!value) return false;
  return static_cast<std::int64_t>(*value) >= minimum;
}

bool MemcachedRateLimiterBackend::incr_and_sum(const std::string& key, const KeysFunction& keys,
                                               std::int64_t amount, std::int64_t maximum, std::int64_t ttl) {
  auto& client = impl_->client;
  std::time_t expiry = memcached::expiry_from_ttl(ttl);
  // Optimistic, in two round trips: read the counter (with its CAS id) and
  // the window's counters together, then write the counter back only if
  // nobody changed it meanwhile (or create it only if nobody did).
  while (true) {
    std::vector<std::string> summed = keys();
    std::vector<std::string> wanted = summed;
    if (std::find(wanted.begin(), wanted.end(), key) == wanted.end()) wanted.push_back(key);
    auto items = client.get_multi(wanted);
    auto own = items.find(key);
    std::int64_t value = (own == items.end() ? 0 : parse_count(own->second)) + amount;
    if (value > maximum) return false;
    std::int64_t total = amount;
    for (const auto& summed_key : summed) {
      auto it = items.find(summed_key);
      if (it != items.end()) total += parse_count(it->second);
    }
    if (total > maximum) return false;
    if (own == items.end()) {
      if (client.add(key, std::to_string(value), memcached::flags::kInteger, expiry)) return true;
    } else if (client.cas(key, std::to_string(value), memcached::flags::kInteger, expiry, own->second.cas) ==
               memcached::CasResult::Stored) {
      return true;
    }
  }
}

bool MemcachedRateLimiterBackend::wait(const std::string& key,
                                       std::optional<std::chrono::milliseconds> timeout) {
  // No blocking primitive in memcached: poll, starting fast and backing off
  // to 50 ms between looks.
  using Clock = std::chrono::steady_clock;
  auto deadline = timeout ? std::optional(Clock::now() + *timeout) : std::nullopt;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (impl_->client.get(key)) return true;
    auto now = Clock::now();
    if (deadline && now >= *deadline) return false;
    auto sleep = pause;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now);
      sleep = std::min(sleep, left + std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(sleep);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void MemcachedRateLimiterBackend::wait_notify(const std::string& key, std::int64_t ttl) {
  impl_->client.set(key, "x", memcached::flags::kBytes, memcached::expiry_from_ttl(ttl));
}

}  // namespace dramatiq
