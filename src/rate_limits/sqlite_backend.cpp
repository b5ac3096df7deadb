// Rate limiter counters in an SQLite file. A counter is a row (key, value,
// expires); each primitive reads and writes its rows inside one write
// transaction of the process's Store (BEGIN IMMEDIATE: SQLite's write lock
// is taken before the first read, so no other process changes a counter
// between the read and the write). Events are rows of their own table,
// present until they expire, so a party that starts waiting after the
// notification still sees it (as with Redis).
#include <algorithm>

#include "dramatiq/rate_limit_backends.hpp"
#include "sqlite/process_store.hpp"

namespace dramatiq {

namespace {

using Clock = std::chrono::steady_clock;
using sqlite::Database;

// A blocked wait looks at the table again after this long even if the
// bell stayed silent (a notifier killed between its commit and its ring).
constexpr auto kRecheck = std::chrono::seconds(1);
// Expired rows one write purges at most.
constexpr std::int64_t kPurgeBatch = 100;

std::string bell_of(const std::string& key) { return "event:" + key; }

sqlite::DatabaseOptions database_options(const SQLiteBackendOptions& options) {
  sqlite::DatabaseOptions db;
  db.path = options.resolved_path();
  db.durable = options.durable;
  db.busy_timeout = std::chrono::milliseconds(options.busy_timeout_ms);
  return db;
}

// The live value of a counter, inside a transaction.
std::optional<std::int64_t> live_value(Database& db, const std::string& key, std::int64_t now) {
  auto select = db.query("SELECT value FROM dramatiq_rate_limits WHERE key = ? AND expires > ?");
  select.bind(1, key).bind(2, now);
  if (!select.step()) return std::nullopt;
  return select.integer(0);
}

// Sets a counter and its expiry (as Redis's SET PX: every update restarts
// the ttl), and purges a few expired rows on the way.
void store_value(Database& db, const std::string& key, std::int64_t value, std::int64_t expires,
                 std::int64_t now) {
  db.query("INSERT INTO dramatiq_rate_limits (key, value, expires) VALUES (?, ?, ?) "
           "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires")
      .bind(1, key)
      .bind(2, value)
      .bind(3, expires)
      .run();
  db.query("DELETE FROM dramatiq_rate_limits WHERE key IN "
           "(SELECT key FROM dramatiq_rate_limits WHERE expires <= ? LIMIT ?)")
      .bind(1, now)
      .bind(2, kPurgeBatch)
      .run();
}

}  // namespace

class SQLiteRateLimiterBackend::Impl {
 public:
  explicit Impl(SQLiteBackendOptions options_in)
      : options(std::move(options_in)), store(database_options(options)) {
    options.path = store.options().path;
  }

  // Runs `update(db, now)` in a write transaction; returns its verdict.
  template <typename Update>
  bool transact(Update&& update) {
    bool done = false;
    store.write([&](Database& db) { done = update(db, sqlite::wall_clock_ms()); });
    return done;
  }

  SQLiteBackendOptions options;
  sqlite::ProcessStore store;
};

SQLiteRateLimiterBackend::SQLiteRateLimiterBackend(SQLiteBackendOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
SQLiteRateLimiterBackend::~SQLiteRateLimiterBackend() = default;

const SQLiteBackendOptions& SQLiteRateLimiterBackend::options() const { return impl_->options; }

bool SQLiteRateLimiterBackend::add(const std::string& key, std::int64_t value, std::int64_t ttl) {
  return impl_->transact([&](Database& db, std::int64_t now) {
    if (live_value(db, key, now)) return false;
    store_value(db, key, value, now + ttl, now);
    return true;
  });
}

bool SQLiteRateLimiterBackend::incr(const std::string& key, std::int64_t amount, std::int64_t maximum,
                                    std::int64_t ttl) {
  return impl_->transact([&](Database& db, std::int64_t now) {
    std::int64_t value = live_value(db, key, now).value_or(0) + amount;
    if (value > maximum) return false;
    store_value(db, key, value, now + ttl, now);
    return true;
  });
}

bool SQLiteRateLimiterBackend::decr(const std::string& key, std::int64_t amount, std::int64_t minimum,
                                    std::int64_t ttl) {
  return impl_->transact([&](Database& db, std::int64_t now) {
    std::int64_t value = live_value(db, key, now).value_or(0) - amount;
    if (value < minimum) return false;
    store_value(db, key, value, now + ttl, now);
    return true;
  });
}

bool SQLiteRateLimiterBackend::incr_and_sum(const std::string& key, const KeysFunction& keys,
                                            std::int64_t amount, std::int64_t maximum, std::int64_t ttl) {
  // Outside the transaction: the function may call back into the host
  // language.
  std::vector<std::string> summed = keys();
  return impl_->transact([&](Database& db, std::int64_t now) {
    std::int64_t value = live_value(db, key, now).value_or(0) + amount;
    if (value > maximum) return false;
    std::int64_t total = amount;
    for (const auto& k : summed) total += live_value(db, k, now).value_or(0);
    if (total > maximum) return false;
    store_value(db, key, value, now + ttl, now);
    return true;
  });
}

bool SQLiteRateLimiterBackend::wait(const std::string& key, std::optional<std::chrono::milliseconds> timeout) {
  sqlite::Store& store = impl_->store.get();
  const std::string bell = bell_of(key);
  auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  auto posted = [&] {
    bool found = false;
    store.read([&](Database& db) {
      auto select = db.query("SELECT 1 FROM dramatiq_rate_limit_events WHERE key = ? AND expires > ?");
      select.bind(1, key).bind(2, sqlite::wall_clock_ms());
      found = select.step();
    });
    return found;
  };
  while (true) {
    // The ticket before the look: a notification after the look rings past it.
    std::uint32_t ticket = store.doorbell().ticket(bell);
    if (posted()) return true;
    auto now = Clock::now();
    if (now >= deadline) return false;
    store.doorbell().wait(bell, ticket, std::min<Clock::time_point>(deadline, now + kRecheck));
  }
}

void SQLiteRateLimiterBackend::wait_notify(const std::string& key, std::int64_t ttl) {
  impl_->store.write([&](Database& db) {
    std::int64_t now = sqlite::wall_clock_ms();
    db.query("INSERT INTO dramatiq_rate_limit_events (key, expires) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET expires = excluded.expires")
        .bind(1, key)
        .bind(2, now + ttl)
        .run();
    db.query("DELETE FROM dramatiq_rate_limit_events WHERE key IN "
             "(SELECT key FROM dramatiq_rate_limit_events WHERE expires <= ? LIMIT ?)")
        .bind(1, now)
        .bind(2, kPurgeBatch)
        .run();
  });
  impl_->store.get().doorbell().ring(bell_of(key));
}

std::optional<std::int64_t> SQLiteRateLimiterBackend::get(const std::string& key) {
  std::optional<std::int64_t> value;
  impl_->store.get().read([&](Database& db) { value = live_value(db, key, sqlite::wall_clock_ms()); });
  return value;
}

}  // namespace dramatiq
