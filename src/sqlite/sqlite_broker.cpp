#include "dramatiq/sqlite_broker.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>
#include <filesystem>
#include <limits>
#include <atomic>
#include <stdexcept>
#include <thread>

#include "core/saturating.hpp"
#include "core/url.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "sqlite/broker_context.hpp"
#include "sqlite/consumer.hpp"

namespace dramatiq {

using sqlite::Database;
using sqlite::now_ms;

namespace {

bool truthy(const std::string& value, const std::string& name) {
  if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
  if (value == "0" || value == "false" || value == "no" || value == "off" || value.empty()) return false;
  throw std::invalid_argument("sqlite URL option '" + name + "' must be true or false, not '" + value + "'");
}

std::int64_t integer_option(const std::string& value, const std::string& name) {
  try {
    std::size_t used = 0;
    long long number = std::stoll(value, &used);
    if (used == value.size() && number > 0) return number;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("sqlite URL option '" + name + "' must be a positive integer, not '" + value + "'");
}

// The broker_priority option: higher runs first, as on RabbitMQ.
std::int64_t rank_of(const Message& message) {
  if (const Value* priority = message.options.find("broker_priority")) {
    // Clamped: the negation of INT64_MIN, or a cast of 1e300, would overflow.
    if (priority->is_int() || priority->is_float()) {
      return -std::max(saturating_int64(priority->as_number(), 0), -std::numeric_limits<std::int64_t>::max());
    }
  }
  return 0;
}

std::int64_t due_of(const Message& message, std::int64_t now) {
  if (const Value* eta = message.options.find("eta")) {
    if (eta->is_int()) return eta->as_int();
    if (eta->is_float()) return saturating_int64(eta->as_number(), now);
  }
  return now;
}

sqlite::MessageRow row_of(const std::string& queue, const Message& message, std::int64_t now) {
  return sqlite::MessageRow{queue, rank_of(message), due_of(message, now), message.message_id,
                            encode_for_broker(message)};
}

}  // namespace

SQLiteBrokerOptions SQLiteBrokerOptions::from_url(const std::string& url) {
  if (url_scheme(url) != "sqlite") {
    throw std::invalid_argument("not an sqlite:// URL: '" + redacted_url(url) + "'");
  }
  // sqlite:///abs/path (empty host) or sqlite://relative/path, as SQLAlchemy
  // writes them: all of it is the file's path, '@' and '#' included.
  ParsedUrl parsed = parse_url(url, {.user_info = UrlSyntax::UserInfo::kNone});
  SQLiteBrokerOptions options;
  options.path = percent_decode(parsed.fragment ? parsed.location + "#" + *parsed.fragment : parsed.location);
  if (options.path.empty()) options.path = default_path();
  for (const UrlParameter& parameter : parsed.query) {
    const std::string& name = parameter.name;
    std::string value = parameter.has_value ? parameter.value : "1";
    if (name == "durable") {
      options.durable = truthy(value, name);
    } else if (name == "heartbeat_timeout") {
      options.heartbeat_timeout_ms = integer_option(value, name);
    } else if (name == "dead_message_ttl") {
      options.dead_message_ttl_ms = integer_option(value, name);
    } else if (name == "busy_timeout") {
      options.busy_timeout_ms = integer_option(value, name);
    } else {
      throw std::invalid_argument("unknown sqlite URL option '" + name +
                                  "' (known: durable, heartbeat_timeout, dead_message_ttl, busy_timeout)");
    }
  }
  return options;
}

std::string SQLiteBrokerOptions::default_path() {
  std::filesystem::path base;
  if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data) {
    base = data;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = std::filesystem::path(home) / ".local" / "share";
  } else {
    base = std::filesystem::temp_directory_path();
  }
  return (base / "dramatiq" / "broker.sqlite3").string();
}

class SQLiteBroker::Impl {
 public:
  explicit Impl(SQLiteBrokerOptions options) : context(std::move(options)) {}
  sqlite::BrokerContext context;
};

SQLiteBroker::SQLiteBroker(SQLiteBrokerOptions options)
    : Broker(BrokerTraits{.schedules_delays = true}) {
  if (options.path.empty()) options.path = SQLiteBrokerOptions::default_path();
  std::error_code error;
  std::filesystem::path directory = std::filesystem::absolute(options.path, error).parent_path();
  if (!error && !std::filesystem::exists(directory, error) && !error) {
    std::filesystem::create_directories(directory, error);
  }
  if (error) {
    throw ConnectionFailed("Cannot use the directory of the embedded broker's database " + options.path +
                           ": " + error.message());
  }
  impl_ = std::make_unique<Impl>(std::move(options));
  impl_->context.store();  // open (and check) the file now: errors belong to the constructor
}

SQLiteBroker::~SQLiteBroker() {
  try {
    close();
  } catch (...) {
  }
}

const SQLiteBrokerOptions& SQLiteBroker::options() const { return impl_->context.options(); }

std::unique_ptr<Consumer> SQLiteBroker::consume(const std::string& queue_name, int prefetch) {
  return std::make_unique<sqlite::SQLiteConsumer>(impl_->context, queue_name, prefetch);
}

void SQLiteBroker::do_declare_queue(const std::string& queue_name) {
  impl_->context.store().write([&](Database& db) {
    db.query("INSERT OR IGNORE INTO dramatiq_queues (name) VALUES (?)").bind(1, queue_name).run();
  });
}

void SQLiteBroker::do_enqueue(const std::string& queue_name, const Message& message) {
  std::vector<sqlite::MessageRow> rows;
  rows.push_back(row_of(queue_name, message, now_ms()));  // moved, not copied from a list
  impl_->context.store().enqueue(rows);
}

void SQLiteBroker::do_enqueue_all(const std::vector<Message>& messages) {
  std::vector<sqlite::MessageRow> rows;
  rows.reserve(messages.size());
  std::int64_t now = now_ms();
  for (const auto& message : messages) rows.push_back(row_of(message.queue_name, message, now));
  impl_->context.store().enqueue(rows);
}

bool SQLiteBroker::do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms,
                                   const Message& message) {
  sqlite::MessageRow row = row_of(message.queue_name, message, now_ms());
  bool stored = false;
  impl_->context.store().write([&](Database& db) {
    stored = false;  // a batch that is retried runs this again
    auto last = db.query("SELECT last_tick FROM dramatiq_schedules WHERE name = ?");
    last.bind(1, schedule_name);
    if (last.step() && last.integer(0) >= tick_ms) return;
    db.query("INSERT INTO dramatiq_schedules (name, last_tick) VALUES (?, ?) "
             "ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick")
        .bind(1, schedule_name)
        .bind(2, tick_ms)
        .run();
    sqlite::insert_message_row(db, row);
    stored = true;
  });
  if (stored) impl_->context.store().doorbell().ring(row.queue);
  return stored;
}

namespace {

// The doorbell slot cancellations ring (hashed like a queue name; a queue
// sharing its slot only sees a spurious wake-up).
constexpr const char* kCancellationsBell = "__cancellations__";

// Reads new rows of dramatiq_cancellations when the doorbell rings.
class SQLiteCancellationWatch : public CancellationWatch {
 public:
  SQLiteCancellationWatch(sqlite::Store& store, CancellationCallback callback)
      : store_(store), callback_(std::move(callback)) {
    ticket_ = store_.doorbell().ticket(kCancellationsBell);
    read_new();  // those in force now, before the constructor returns
    thread_ = std::thread([this] { run(); });
  }
  ~SQLiteCancellationWatch() override {
    stopping_ = true;
    store_.doorbell().ring(kCancellationsBell);
    thread_.join();
  }

 private:
  void read_new() {
    std::vector<std::pair<std::string, std::int64_t>> found;
    store_.read_committed([&](Database& db) {
      found.clear();
      auto cursor = db.query("SELECT seq, message_id, expires FROM dramatiq_cancellations "
                             "WHERE seq > ? AND expires > ? ORDER BY seq");
      cursor.bind(1, last_seq_).bind(2, now_ms());
      while (cursor.step()) {
        last_seq_ = std::max(last_seq_, cursor.integer(0));
        found.emplace_back(cursor.text(1), cursor.integer(2));
      }
    });
    for (const auto& [id, expires] : found) callback_(id, expires);
  }

  void run() {
    while (!stopping_) {
      if (!store_.doorbell().wait(kCancellationsBell, ticket_,
                                  std::chrono::steady_clock::now() + std::chrono::seconds(1))) {
        continue;
      }
      ticket_ = store_.doorbell().ticket(kCancellationsBell);
      if (stopping_) break;
      try {
        read_new();
      } catch (const std::exception& e) {
        log::write(log::Level::Warning, "dramatiq.broker.SQLiteBroker",
                   std::string("Could not read cancellations (tried again at the next one): ") + e.what());
      }
    }
  }

  sqlite::Store& store_;
  CancellationCallback callback_;
  std::uint32_t ticket_ = 0;
  std::int64_t last_seq_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

void SQLiteBroker::do_cancel(const std::string& message_id, std::int64_t expires_ms) {
  impl_->context.store().write([&](Database& db) {
    db.query("DELETE FROM dramatiq_cancellations WHERE expires <= ?").bind(1, now_ms()).run();
    db.query("INSERT INTO dramatiq_cancellations (message_id, expires) VALUES (?, ?)")
        .bind(1, message_id)
        .bind(2, expires_ms)
        .run();
  });
  impl_->context.store().doorbell().ring(kCancellationsBell);
}

std::unique_ptr<CancellationWatch> SQLiteBroker::watch_cancellations(CancellationCallback callback) {
  return std::make_unique<SQLiteCancellationWatch>(impl_->context.store(), std::move(callback));
}

std::optional<std::int64_t> SQLiteBroker::last_tick(const std::string& schedule_name) {
  std::optional<std::int64_t> last;
  impl_->context.store().read([&](Database& db) {
    auto cursor = db.query("SELECT last_tick FROM dramatiq_schedules WHERE name = ?");
    cursor.bind(1, schedule_name);
    if (cursor.step()) last = cursor.integer(0);
  });
  return last;
}

void SQLiteBroker::flush(const std::string& queue_name) {
  impl_->context.store().write([&](Database& db) {
    db.query("DELETE FROM dramatiq_messages WHERE queue = ?").bind(1, queue_name).run();
    db.query("DELETE FROM dramatiq_dead_letters WHERE queue = ?").bind(1, queue_name).run();
  });
}

void SQLiteBroker::flush_all() {
  impl_->context.store().write([&](Database& db) {
    db.exec("DELETE FROM dramatiq_messages");
    db.exec("DELETE FROM dramatiq_dead_letters");
  });
}

void SQLiteBroker::close() {
  if (!impl_) return;
  impl_->context.settler().stop();
  try {
    impl_->context.unregister();
  } catch (const std::exception&) {
    // Its leases return when this process is seen dead.
  }
}

std::size_t SQLiteBroker::count_unfinished(const std::string& queue_name) {
  std::int64_t count = 0;
  impl_->context.store().read([&](Database& db) {
    auto waiting = db.query("SELECT count(*) FROM dramatiq_messages WHERE queue = ? AND holder IS NULL");
    waiting.bind(1, queue_name);
    if (waiting.step()) count += waiting.integer(0);
    auto held = db.query("SELECT count(*) FROM dramatiq_messages WHERE holder IS NOT NULL AND queue = ?");
    held.bind(1, queue_name);
    if (held.step()) count += held.integer(0);
  });
  return static_cast<std::size_t>(count);
}

std::vector<StoredMessage> SQLiteBroker::list_messages(const std::string& queue_name, std::size_t limit) {
  const std::int64_t now = now_ms();
  const auto bound = static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
  std::vector<StoredMessage> messages;
  impl_->context.store().read([&](Database& db) {
    messages.clear();
    auto ready = db.query("SELECT body FROM dramatiq_messages WHERE queue = ? AND holder IS NULL AND due <= ? "
                          "ORDER BY rank, due, id LIMIT ?");  // as consumers take them
    ready.bind(1, queue_name).bind(2, now).bind(3, bound);
    while (ready.step()) messages.push_back(StoredMessage{ready.blob(0), false});
    auto delayed = db.query("SELECT body FROM dramatiq_messages WHERE queue = ? AND holder IS NULL AND due > ? "
                            "ORDER BY due, id LIMIT ?");
    delayed.bind(1, queue_name).bind(2, now).bind(3, bound - static_cast<std::int64_t>(messages.size()));
    while (delayed.step()) messages.push_back(StoredMessage{delayed.blob(0), true});
  });
  return messages;
}

void SQLiteBroker::put_worker_record(const WorkerRecord& record) {
  const std::string text = encode_worker_record(record);
  impl_->context.store().write([&](Database& db) {
    db.query("INSERT OR REPLACE INTO dramatiq_worker_records (worker_id, expires, record) VALUES (?, ?, ?)")
        .bind(1, record.worker_id)
        .bind(2, record.expires_at_ms)
        .bind(3, text)
        .run();
  });
}

void SQLiteBroker::remove_worker_record(const std::string& worker_id) {
  impl_->context.store().write([&](Database& db) {
    db.query("DELETE FROM dramatiq_worker_records WHERE worker_id = ?").bind(1, worker_id).run();
  });
}

std::vector<WorkerRecord> SQLiteBroker::list_worker_records() {
  const std::int64_t now = now_ms();
  std::vector<std::pair<std::string, std::string>> rows;
  bool any_expired = false;
  impl_->context.store().read([&](Database& db) {
    rows.clear();
    auto select = db.query("SELECT worker_id, expires, record FROM dramatiq_worker_records ORDER BY worker_id");
    while (select.step()) {
      if (select.integer(1) <= now) {
        any_expired = true;
      } else {
        rows.emplace_back(select.text(0), select.text(2));
      }
    }
  });
  if (any_expired) {
    impl_->context.store().write([&](Database& db) {
      db.query("DELETE FROM dramatiq_worker_records WHERE expires <= ?").bind(1, now).run();
    });
  }
  std::vector<WorkerRecord> records;
  for (const auto& [worker_id, text] : rows) {
    try {
      records.push_back(decode_worker_record(text));
    } catch (const DecodeError& e) {
      log::write(log::Level::Warning, logger_name(), "Skipped the worker record of %s: %s", {worker_id, e.what()});
    }
  }
  return records;
}

QueueCounts SQLiteBroker::queue_counts(const std::string& queue_name) {
  QueueCounts counts;
  std::int64_t now = now_ms();
  impl_->context.store().read([&](Database& db) {
    auto ready = db.query("SELECT count(*) FROM dramatiq_messages WHERE queue = ? AND holder IS NULL AND due <= ?");
    ready.bind(1, queue_name).bind(2, now);
    if (ready.step()) counts.ready = ready.integer(0);
    auto delayed = db.query("SELECT count(*) FROM dramatiq_messages WHERE queue = ? AND holder IS NULL AND due > ?");
    delayed.bind(1, queue_name).bind(2, now);
    if (delayed.step()) counts.delayed = delayed.integer(0);
    auto held = db.query("SELECT count(*) FROM dramatiq_messages WHERE holder IS NOT NULL AND queue = ?");
    held.bind(1, queue_name);
    if (held.step()) counts.in_flight = held.integer(0);
    auto dead = db.query("SELECT count(*) FROM dramatiq_dead_letters WHERE queue = ?");
    dead.bind(1, queue_name);
    if (dead.step()) counts.dead = dead.integer(0);
  });
  return counts;
}

std::vector<StoredDeadLetter> SQLiteBroker::list_dead_letters(const std::string& queue_name, std::size_t limit) {
  std::vector<StoredDeadLetter> letters;
  impl_->context.store().read([&](Database& db) {
    auto select = db.query(
        "SELECT id, message_id, dead_at, body, failure_type, failure_message, traceback "
        "FROM dramatiq_dead_letters WHERE queue = ? ORDER BY id LIMIT ?");
    select.bind(1, queue_name).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
    auto optional_text = [&](int column) {
      return select.is_null(column) ? std::nullopt : std::optional<std::string>(select.text(column));
    };
    while (select.step()) {
      letters.push_back(StoredDeadLetter{std::to_string(select.integer(0)), select.text(1), select.integer(2),
                                         select.blob(3), optional_text(4), optional_text(5), optional_text(6)});
    }
  });
  return letters;
}

std::shared_ptr<MessageProxy> SQLiteBroker::first_dead_letter(const std::string& queue_name) {
  auto letters = list_dead_letters(queue_name, 1);
  if (letters.empty()) return nullptr;
  auto proxy = std::make_shared<MessageProxy>();
  try {
    proxy->message = get_encoder()->decode(letters[0].data);
  } catch (const std::exception& e) {
    proxy->decode_error = e.what();
    proxy->message.queue_name = queue_name;
    proxy->raw = letters[0].data;
  }
  if (letters[0].failure_type) {
    Failure failure;
    failure.type_name = *letters[0].failure_type;
    failure.message = letters[0].failure_message.value_or("");
    failure.traceback = letters[0].traceback.value_or("");
    proxy->failure = std::move(failure);
  }
  return proxy;
}

namespace {

// Dead letters' row ids, from their decimal names; a name that is not one
// names no row and is passed over.
std::vector<std::int64_t> dead_letter_row_ids(const std::vector<std::string>& ids) {
  std::vector<std::int64_t> rows;
  rows.reserve(ids.size());
  for (const auto& id : ids) {
    std::int64_t row = 0;
    auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), row);
    if (error == std::errc() && end == id.data() + id.size()) rows.push_back(row);
  }
  return rows;
}

}  // namespace

std::size_t SQLiteBroker::requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  const std::vector<std::int64_t> rows = dead_letter_row_ids(ids);
  if (!ids.empty() && rows.empty()) return 0;
  std::size_t moved = 0;
  auto& store = impl_->context.store();
  store.write([&](Database& db) {
    moved = 0;
    std::int64_t now = now_ms();
    auto move_one = [&](std::int64_t id) {
      db.query("INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) "
               "SELECT queue, 0, ?, message_id, body FROM dramatiq_dead_letters WHERE id = ? AND queue = ?")
          .bind(1, now)
          .bind(2, id)
          .bind(3, queue_name)
          .run();
      db.query("DELETE FROM dramatiq_dead_letters WHERE id = ? AND queue = ?").bind(1, id).bind(2, queue_name).run();
      moved += static_cast<std::size_t>(db.changes());
    };
    if (!rows.empty()) {
      for (std::int64_t id : rows) move_one(id);
      return;
    }
    std::vector<std::int64_t> all;
    {
      auto select = db.query("SELECT id FROM dramatiq_dead_letters WHERE queue = ? ORDER BY id");
      select.bind(1, queue_name);
      while (select.step()) all.push_back(select.integer(0));
    }
    for (std::int64_t id : all) move_one(id);
  });
  if (moved > 0) store.doorbell().ring(queue_name);
  return moved;
}

std::size_t SQLiteBroker::delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) {
  const std::vector<std::int64_t> rows = dead_letter_row_ids(ids);
  if (!ids.empty() && rows.empty()) return 0;
  std::size_t deleted = 0;
  impl_->context.store().write([&](Database& db) {
    deleted = 0;
    if (rows.empty()) {
      db.query("DELETE FROM dramatiq_dead_letters WHERE queue = ?").bind(1, queue_name).run();
      deleted = static_cast<std::size_t>(db.changes());
      return;
    }
    for (std::int64_t id : rows) {
      db.query("DELETE FROM dramatiq_dead_letters WHERE id = ? AND queue = ?").bind(1, id).bind(2, queue_name).run();
      deleted += static_cast<std::size_t>(db.changes());
    }
  });
  return deleted;
}

std::size_t SQLiteBroker::reclaim_dead_workers() {
  std::set<std::string> queues;
  std::vector<std::string> reports;
  std::size_t count = 0;
  impl_->context.store().write([&](Database& db) {
    reports.clear();
    count = impl_->context.reclaim(db, queues, reports);
  });
  impl_->context.log_reports(reports);
  impl_->context.ring(queues);
  return count;
}

}  // namespace dramatiq
