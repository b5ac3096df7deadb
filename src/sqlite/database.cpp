#include "sqlite/database.hpp"

#include <sys/statfs.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "dramatiq/errors.hpp"
#include "dramatiq/wait_interruption.hpp"

namespace dramatiq::sqlite {

namespace {

// PRAGMA application_id of an embedded-broker file ("DRMQ"), so a file
// that belongs to another program is refused instead of written into.
constexpr std::int64_t kApplicationId = 0x44524D51;
// 2: messages sent by producers are spooled (sqlite/spool.hpp) and moved in
// by any process's writes; a version that does not move them must refuse
// the file rather than leave them unseen.
constexpr std::int64_t kSchemaVersion = 2;
// How many busy_timeout attempts a write makes before it gives up.
constexpr int kWriteAttempts = 6;

// Waiting and leased messages share one narrow table: a fetch reads the
// partial index of waiting rows in (queue, rank, due, id) order, an ack
// deletes by primary key. rank = -broker_priority; due = when the message
// may run (enqueue time, or its eta). holder = the worker that leased it.
// Leased rows have no index of their own: keeping one cost every message a
// b-tree insert at its lease and a delete at its ack, while finding a
// holder's rows is needed only when a process stops or is found dead (a
// scan then). Files made before drop it when they are opened.
// dramatiq_spools: how far each producer's spool file has been moved into
// dramatiq_messages (sqlite/spool.hpp), and whether it ended in a seal.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS dramatiq_queues (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dramatiq_messages (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  rank INTEGER NOT NULL,
  due INTEGER NOT NULL,
  holder INTEGER,
  message_id TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dramatiq_messages_waiting
  ON dramatiq_messages (queue, rank, due, id) WHERE holder IS NULL;
DROP INDEX IF EXISTS dramatiq_messages_held;
CREATE TABLE IF NOT EXISTS dramatiq_spools (
  name TEXT PRIMARY KEY,
  drained INTEGER NOT NULL,
  sealed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dramatiq_dead_letters (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  dead_at INTEGER NOT NULL,
  body BLOB NOT NULL,
  failure_type TEXT,
  failure_message TEXT,
  traceback TEXT
);
CREATE INDEX IF NOT EXISTS dramatiq_dead_letters_queue ON dramatiq_dead_letters (queue, id);
CREATE INDEX IF NOT EXISTS dramatiq_dead_letters_age ON dramatiq_dead_letters (dead_at);
CREATE TABLE IF NOT EXISTS dramatiq_schedules (
  name TEXT PRIMARY KEY,
  last_tick INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dramatiq_cancellations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dramatiq_cancellations_expires ON dramatiq_cancellations (expires);
CREATE TABLE IF NOT EXISTS dramatiq_worker_records (
  worker_id TEXT PRIMARY KEY,
  expires INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dramatiq_workers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pid INTEGER NOT NULL,
  started INTEGER NOT NULL,
  boot_id TEXT NOT NULL,
  pid_namespace TEXT NOT NULL,
  hostname TEXT NOT NULL,
  heartbeat INTEGER NOT NULL
);
)sql";

// The results and rate-limit backends' tables, in the same file as the
// queues (or a file of their own). Applied with kSchema: a file made before
// they existed gets them on its next open, under the same schema version.
// `expires` is wall-clock ms since the epoch (shared by every process on
// the host); a row past it reads as missing and is purged by later writes.
constexpr const char* kBackendSchema = R"sql(
CREATE TABLE IF NOT EXISTS dramatiq_results (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dramatiq_results_expiry ON dramatiq_results (expires);
CREATE TABLE IF NOT EXISTS dramatiq_rate_limits (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dramatiq_rate_limits_expiry ON dramatiq_rate_limits (expires);
CREATE TABLE IF NOT EXISTS dramatiq_rate_limit_events (
  key TEXT PRIMARY KEY,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dramatiq_rate_limit_events_expiry ON dramatiq_rate_limit_events (expires);
)sql";

struct NetworkFileSystem {
  long magic;
  const char* name;
};
// statfs f_type values of file systems on which SQLite's WAL (shared
// memory and POSIX locks between processes) is not safe.
constexpr NetworkFileSystem kNetworkFileSystems[] = {
    {0x6969, "NFS"},          {0x517B, "SMB"},      {static_cast<long>(0xFF534D42), "CIFS"},
    {static_cast<long>(0xFE534D42), "SMB2"}, {0x5346414F, "AFS"},  {0x00C36400, "CephFS"},
    {0x0BD00BD0, "Lustre"},   {0x01161970, "GFS2"}, {0x01021997, "9P"},
    {0x73757245, "Coda"},     {0x564C, "NCP"}};

}  // namespace

void refuse_network_file_system(const std::string& path) {
  std::error_code error;
  std::filesystem::path directory = std::filesystem::absolute(path, error).parent_path();
  if (error) return;  // reported when SQLite opens it
  struct statfs info{};
  if (::statfs(directory.c_str(), &info) != 0) return;  // reported when SQLite opens it
  for (const auto& fs : kNetworkFileSystems) {
    if (static_cast<long>(static_cast<unsigned int>(info.f_type)) == (fs.magic & 0xFFFFFFFFL)) {
      throw ConnectionFailed("The embedded broker's file " + path + " is on a " + fs.name +
                             " file system; SQLite's WAL needs a local file system shared by "
                             "processes on one host. Use a local path.");
    }
  }
}

Statement::Statement(sqlite3* db, const char* sql) {
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    throw DramatiqError(std::string("SQLite could not prepare a statement: ") + sqlite3_errmsg(db));
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Cursor::Cursor(sqlite3* db, Statement& statement) : db_(db), stmt_(statement.get()) {}

Cursor::~Cursor() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Cursor& Cursor::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Cursor& Cursor::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}

Cursor& Cursor::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

Cursor& Cursor::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Cursor::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  int code = sqlite3_extended_errcode(db_);
  sqlite3_reset(stmt_);
  raise_error(db_, code, "A query failed");
}

std::int64_t Cursor::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Cursor::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::string Cursor::text(int column) const {
  auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
}

std::string Cursor::blob(int column) const {
  auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
}

Database::Database(const DatabaseOptions& options)
    : path_(options.path), busy_timeout_(options.busy_timeout), busy_wait_(options.busy_timeout) {
  if (path_.empty()) throw ConnectionFailed("The embedded broker needs a file path");
  refuse_network_file_system(path_);
  int rc = sqlite3_open_v2(path_.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw ConnectionFailed("Cannot open the embedded broker's database " + path_ + ": " + message);
  }
  try {
    configure(options);
    ensure_schema();
  } catch (...) {
    statements_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  statements_.clear();
  if (db_) sqlite3_close_v2(db_);
}

void raise_error(sqlite3* db, int code, std::string_view what) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string message = std::string(what) + " on the embedded broker's database" +
                        (file && *file ? std::string(" ") + file : std::string()) + ": " +
                        (db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xFF) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      throw ConnectionFailed(message);
    default:
      throw ConnectionClosed(message);
  }
}

void Database::fail(int code, std::string_view what) const { raise_error(db_, code, what); }

void Database::exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string text = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    fail(rc, std::string("SQL failed (") + text + ")");
  }
}

int Database::on_busy(void* database, int attempts) {
  // SQLite's own handler (sqlite3_busy_timeout) sleeps 1 ms first, then
  // longer: a write here holds the lock for tens of microseconds, so a
  // producer meeting a worker's ack batch waited 20-50 times too long (the
  // embedded broker's send -> start p99).
  auto* self = static_cast<Database*>(database);
  auto now = std::chrono::steady_clock::now();
  if (attempts == 0) self->busy_since_ = now;
  if (now - self->busy_since_ >= self->busy_wait_) return 0;
  if (const InterruptibleWaits* scope = InterruptibleWaits::current()) {
    // Asked once per the scope's interval, not per step: asking may take
    // the interpreter's lock.
    if (now - self->busy_since_ >= scope->interval() && now - self->last_interrupt_check_ >= scope->interval()) {
      self->last_interrupt_check_ = now;
      try {
        scope->check();
      } catch (...) {
        self->wait_interrupted_ = true;
        return 0;
      }
    }
  }
  if (attempts < 4) {
    std::this_thread::yield();
  } else {
    auto step = std::chrono::microseconds(std::min(1000, 50 << std::min(attempts - 4, 5)));
    std::this_thread::sleep_for(step);
  }
  return 1;
}

void Database::configure(const DatabaseOptions& options) {
  busy_wait_ = busy_timeout_;
  sqlite3_busy_handler(db_, &Database::on_busy, this);
  sqlite3_extended_result_codes(db_, 1);
  // Reading the header is the first access: a file that is not SQLite
  // fails here with NOTADB.
  {
    auto cursor = query("PRAGMA application_id");
    cursor.step();
    std::int64_t id = cursor.integer(0);
    if (id != 0 && id != kApplicationId) {
      throw ConnectionFailed("The file " + path_ +
                             " is an SQLite database of another application, not an embedded "
                             "broker's; choose another path.");
    }
  }
  // WAL lets producers and consumers of every process work at once; the
  // mode is stored in the file, so any process sets it.
  {
    auto cursor = query("PRAGMA journal_mode=WAL");
    if (!cursor.step() || cursor.text(0) != "wal") {
      throw ConnectionFailed("The embedded broker's database " + path_ +
                             " cannot use write-ahead logging (journal mode " + cursor.text(0) + ")");
    }
  }
  exec(options.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  // A checkpoint truncates the WAL back to this size.
  exec("PRAGMA journal_size_limit=67108864");
  exec("PRAGMA foreign_keys=OFF");
}

void Database::ensure_schema() {
  write([&] {
    std::int64_t id;
    {
      auto cursor = query("PRAGMA application_id");
      cursor.step();
      id = cursor.integer(0);
    }
    if (id == 0) {
      // A new file, or one of another program that set no application id.
      auto tables = query("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'dramatiq_%' "
                          "AND name NOT LIKE 'sqlite_%'");
      tables.step();
      if (tables.integer(0) > 0) {
        throw ConnectionFailed("The file " + path_ +
                               " is an SQLite database of another application, not an embedded "
                               "broker's; choose another path.");
      }
    }
    std::int64_t version;
    {
      auto cursor = query("PRAGMA user_version");
      cursor.step();
      version = cursor.integer(0);
    }
    if (version > kSchemaVersion) {
      throw ConnectionFailed("The embedded broker's database " + path_ + " has schema version " +
                             std::to_string(version) + ", newer than this version of dramatiq (" +
                             std::to_string(kSchemaVersion) + ")");
    }
    exec(kSchema);
    exec(kBackendSchema);
    if (id == 0) exec("PRAGMA application_id=1146244433");  // kApplicationId
    if (version < kSchemaVersion) exec("PRAGMA user_version=2");  // kSchemaVersion
  });
}

Cursor Database::query(const char* sql) {
  auto& statement = statements_[sql];
  if (!statement) statement = std::make_unique<Statement>(db_, sql);
  return Cursor(db_, *statement);
}

int Database::run_prepared(const char* sql) {
  auto& statement = statements_[sql];
  if (!statement) statement = std::make_unique<Statement>(db_, sql);
  int rc = sqlite3_step(statement->get());
  sqlite3_reset(statement->get());
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void Database::throw_if_wait_interrupted() {
  if (!wait_interrupted_) return;
  wait_interrupted_ = false;
  throw WaitInterrupted();
}

void Database::begin_immediate() {
  wait_interrupted_ = false;
  for (int attempt = 1;; ++attempt) {
    int rc = run_prepared("BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) return;
    if ((rc & 0xFF) == SQLITE_BUSY) throw_if_wait_interrupted();
    if ((rc & 0xFF) != SQLITE_BUSY || attempt >= kWriteAttempts) {
      if ((rc & 0xFF) == SQLITE_BUSY) {
        throw ConnectionClosed("The embedded broker's database " + path_ + " stayed locked by another process for " +
                               std::to_string(busy_timeout_.count() * kWriteAttempts / 1000) + " s");
      }
      fail(rc, "BEGIN IMMEDIATE failed");
    }
  }
}

void Database::commit() {
  for (int attempt = 1;; ++attempt) {
    int rc = run_prepared("COMMIT");
    if (rc == SQLITE_OK) return;
    if ((rc & 0xFF) == SQLITE_BUSY) throw_if_wait_interrupted();
    if ((rc & 0xFF) != SQLITE_BUSY || attempt >= kWriteAttempts) fail(rc, "COMMIT failed");
  }
}

void Database::rollback() noexcept {
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace dramatiq::sqlite
