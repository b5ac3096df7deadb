// Rows of the embedded broker's file as another process may have left them:
// the input writes messages, dead letters, worker registrations and records with
// any SQLite type in any column the schema lets through (a text rank, a
// real due time, an integer body, a pid of -1, a heartbeat of INT64_MIN),
// through a connection of its own, and then the broker consumes the queue,
// settles what it got, lists and requeues the dead letters and reclaims
// dead workers' leases. Every row is either delivered (decoded, or
// dead-lettered with its decode error) or left alone; nothing crashes.
#include <sqlite3.h>
#include <unistd.h>

#include <string>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "fuzz_support.hpp"

using namespace dramatiq;
using dramatiq::fuzz::Input;
using dramatiq::fuzz::invariant_failed;

namespace {

// Binds parameter `index` to a value of the type the input picks.
void bind_any(sqlite3_stmt* stmt, int index, Input& in) {
  switch (in.byte() % 6) {
    case 0: sqlite3_bind_int64(stmt, index, in.number<std::int64_t>()); break;
    case 1: sqlite3_bind_int64(stmt, index, in.byte()); break;
    case 2: sqlite3_bind_double(stmt, index, in.number<double>()); break;
    case 3: {
      std::string text = in.bytes(64);
      sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      break;
    }
    case 4: {
      std::string blob = in.bytes(255);
      sqlite3_bind_blob(stmt, index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
      break;
    }
    case 5: sqlite3_bind_null(stmt, index); break;
  }
}

// A body: usually a real message (so decoding goes deep), stored as a blob
// or as text, sometimes anything at all.
void bind_body(sqlite3_stmt* stmt, int index, Input& in) {
  std::uint8_t how = in.byte();
  if (how % 4 == 3) {
    bind_any(stmt, index, in);
    return;
  }
  std::string body = R"({"queue_name":"q","actor_name":"a","args":[)" + in.bytes(64) +
                     R"(],"kwargs":{},"options":{},"message_id":"id","message_timestamp":1})";
  if (how % 4 == 2) body = in.bytes(255);
  if (how & 0x10) {
    sqlite3_bind_text(stmt, index, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_blob(stmt, index, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  }
}

void run(sqlite3* db, const char* sql, Input& in, int parameters, int body_parameter) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    invariant_failed("prepare failed", sqlite3_errmsg(db));
  }
  for (int i = 1; i <= parameters; ++i) {
    if (i == body_parameter) {
      bind_body(stmt, i, in);
    } else {
      bind_any(stmt, i, in);
    }
  }
  sqlite3_step(stmt);  // a NOT NULL or type constraint may refuse the row: fine
  sqlite3_finalize(stmt);
}

void write_hostile_rows(sqlite3* db, Input& in) {
  for (int rows = 0; !in.empty() && rows < 8; ++rows) {
    switch (in.byte() % 5) {
      case 0:
      case 1:
        // queue 'q', then rank, due, holder, message_id, body as chosen.
        run(db, "INSERT INTO dramatiq_messages (queue, rank, due, holder, message_id, body) "
                "VALUES ('q', ?1, ?2, CASE WHEN ?3 IS NULL THEN NULL ELSE ?3 END, ?4, ?5)",
            in, 5, 5);
        break;
      case 2:
        run(db, "INSERT INTO dramatiq_dead_letters (queue, message_id, dead_at, body, failure_type, "
                "failure_message, traceback) VALUES ('q', ?1, ?2, ?3, ?4, ?5, ?6)",
            in, 6, 3);
        break;
      case 3:
        run(db, "INSERT INTO dramatiq_workers (pid, started, boot_id, pid_namespace, hostname, heartbeat) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            in, 6, 0);
        break;
      case 4:
        // A worker's record: id, expiry and the record's text as chosen.
        run(db, "INSERT OR REPLACE INTO dramatiq_worker_records (worker_id, expires, record) VALUES (?1, ?2, ?3)",
            in, 3, 3);
        break;
    }
  }
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string what = error ? error : "";
    sqlite3_free(error);
    invariant_failed("sqlite3_exec failed", what);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_sink([](const log::Record&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static dramatiq::fuzz::BrokerFiles files("sqlite");
  static SQLiteBroker broker([] {
    SQLiteBrokerOptions options;
    options.path = files.path;
    options.busy_timeout_ms = 2000;
    return options;
  }());
  static sqlite3* db = [] {
    broker.declare_queue("q");
    sqlite3* handle = nullptr;
    if (sqlite3_open(files.path.c_str(), &handle) != SQLITE_OK) invariant_failed("open failed");
    sqlite3_busy_timeout(handle, 2000);
    return handle;
  }();

  Input in(data, size);
  const std::uint8_t mode = in.byte();
  write_hostile_rows(db, in);

  try {
    auto consumer = broker.consume("q", 8);
    for (int i = 0; i < 16; ++i) {
      auto delivery = consumer->next(std::chrono::milliseconds(0));
      if (!delivery) break;
      if (delivery->decode_error || (mode & 1)) {
        consumer->nack(*delivery);
      } else if (mode & 2) {
        consumer->requeue({delivery});
      } else {
        consumer->ack(*delivery);
      }
    }
    consumer->close();
  } catch (const DramatiqError&) {
  }
  try {
    for (const auto& letter : broker.list_dead_letters("q", 16)) static_cast<void>(letter.data.size());
    if (mode & 4) broker.requeue_dead_letters("q", {});
    static_cast<void>(broker.queue_counts("q"));
    for (const auto& waiting : broker.list_messages("q", 16)) static_cast<void>(waiting.data.size());
    for (const auto& record : broker.list_worker_records()) static_cast<void>(record.worker_id.size());
    static_cast<void>(broker.join("q", JoinOptions{std::chrono::milliseconds(0), true}));
    broker.reclaim_dead_workers();
  } catch (const DramatiqError&) {
  }
  // Start the next input from an empty file (but keep this process's
  // registration, which the broker's heartbeat needs).
  const std::string reset = "DELETE FROM dramatiq_messages; DELETE FROM dramatiq_dead_letters; "
                            "DELETE FROM dramatiq_worker_records; "
                            "DELETE FROM dramatiq_workers WHERE pid IS NOT " + std::to_string(::getpid());
  exec(db, reset.c_str());
  return 0;
}
