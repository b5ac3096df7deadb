#include "dramatiq/sqlite_result_backend.hpp"

#include <algorithm>

#include "sqlite/process_store.hpp"

namespace dramatiq {

namespace {

using Clock = std::chrono::steady_clock;
using sqlite::Database;

// A blocked get looks at the table again after this long even if its bell
// stayed silent: a writer killed between its commit and its ring must not
// leave a waiter asleep until its timeout.
constexpr auto kRecheck = std::chrono::seconds(1);
// Expired rows one write purges at most, so a backlog costs no single
// writer much.
constexpr std::int64_t kPurgeBatch = 100;

// The doorbell slot of a result, apart from the queue names the broker rings.
std::string bell_of(const std::string& key) { return "result:" + key; }

sqlite::DatabaseOptions database_options(const SQLiteBackendOptions& file) {
  sqlite::DatabaseOptions options;
  options.path = file.resolved_path();
  options.durable = file.durable;
  options.busy_timeout = std::chrono::milliseconds(file.busy_timeout_ms);
  return options;
}

}  // namespace

class SQLiteResultBackend::Impl {
 public:
  explicit Impl(SQLiteBackendOptions file_options)
      : file(std::move(file_options)), store(database_options(file)) {
    file.path = store.options().path;
  }
  SQLiteBackendOptions file;
  sqlite::ProcessStore store;
};

SQLiteResultBackend::SQLiteResultBackend(SQLiteBackendOptions file, ResultBackendOptions options)
    : ResultBackend(std::move(options)), impl_(std::make_unique<Impl>(std::move(file))) {}

SQLiteResultBackend::~SQLiteResultBackend() = default;

const SQLiteBackendOptions& SQLiteResultBackend::file() const { return impl_->file; }

void SQLiteResultBackend::put(const std::string& key, const Value& stored, std::int64_t ttl_ms) {
  std::string data = encode(stored);  // before the transaction: it may call a host encoder
  impl_->store.write([&](Database& db) {
    std::int64_t now = sqlite::wall_clock_ms();
    db.query("INSERT INTO dramatiq_results (key, value, expires) VALUES (?, ?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires")
        .bind(1, key)
        .bind_blob(2, data)
        .bind(3, now + ttl_ms)
        .run();
    db.query("DELETE FROM dramatiq_results WHERE key IN "
             "(SELECT key FROM dramatiq_results WHERE expires <= ? LIMIT ?)")
        .bind(1, now)
        .bind(2, kPurgeBatch)
        .run();
  });
  // After the commit: a woken waiter finds the row.
  impl_->store.get().doorbell().ring(bell_of(key));
}

std::optional<Value> SQLiteResultBackend::get(const std::string& key) {
  std::optional<std::string> data;
  impl_->store.get().read([&](Database& db) {
    auto select = db.query("SELECT value FROM dramatiq_results WHERE key = ? AND expires > ?");
    select.bind(1, key).bind(2, sqlite::wall_clock_ms());
    if (select.step()) data = select.blob(0);
  });
  if (!data) return std::nullopt;
  return decode(*data);  // outside the connection: it may call a host encoder
}

std::optional<Value> SQLiteResultBackend::wait(const std::string& key, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  sqlite::Store& store = impl_->store.get();
  const std::string bell = bell_of(key);
  while (true) {
    // The ticket before the look: a commit after the look rings past it.
    std::uint32_t ticket = store.doorbell().ticket(bell);
    if (auto stored = get(key)) return stored;
    auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    store.doorbell().wait(bell, ticket, std::min<Clock::time_point>(deadline, now + kRecheck));
  }
}

}  // namespace dramatiq
