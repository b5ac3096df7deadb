// One SQLite connection to an embedded-broker file: opening it safely
// (local file system, our own schema, WAL), prepared statements, and
// transactions that write (BEGIN IMMEDIATE, retried while another process
// holds the write lock).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace dramatiq::sqlite {

struct DatabaseOptions {
  std::string path;
  // synchronous=FULL (survives power loss) instead of NORMAL (survives any
  // process crash).
  bool durable = false;
  // How long one attempt waits for another process's write lock.
  std::chrono::milliseconds busy_timeout{5000};
};

// A prepared statement, reset after each use by its Cursor.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Binds parameters and steps through rows of one statement; resets it on
// destruction so the statement can be reused.
class Cursor {
 public:
  Cursor(sqlite3* db, Statement& statement);
  ~Cursor();
  Cursor& bind(int index, std::int64_t value);
  Cursor& bind(int index, std::string_view text);   // TEXT
  Cursor& bind_blob(int index, std::string_view bytes);
  Cursor& bind_null(int index);
  // Advances to the next row; false when done. Throws on errors.
  bool step();
  // Runs to completion.
  void run() {
    while (step()) {
    }
  }
  std::int64_t integer(int column) const;
  bool is_null(int column) const;
  std::string text(int column) const;
  std::string blob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating if needed) and checks the file: refuses network file
  // systems and files that are not an embedded-broker database.
  explicit Database(const DatabaseOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const { return path_; }
  std::chrono::milliseconds busy_timeout() const { return busy_timeout_; }
  // How long one attempt waits for another connection's lock: `wait`
  // until restore_busy_wait() (a checkpoint that must not stall writers).
  void limit_busy_wait(std::chrono::milliseconds wait) { busy_wait_ = wait; }
  void restore_busy_wait() { busy_wait_ = busy_timeout_; }
  sqlite3* handle() { return db_; }

  // A cached prepared statement for `sql` (a string literal: cached by address).
  Cursor query(const char* sql);
  void exec(const char* sql);
  std::int64_t changes() const { return sqlite3_changes64(db_); }

  // BEGIN IMMEDIATE ... COMMIT around `work`; rolls back on exception.
  // Waits (in busy_timeout attempts) for other processes' write locks.
  template <typename Work>
  void write(Work&& work) {
    begin_immediate();
    try {
      work();
      commit();
    } catch (...) {
      rollback();
      throw;
    }
  }

  // Throws the engine exception for an SQLite result code, naming what failed.
  [[noreturn]] void fail(int code, std::string_view what) const;

 private:
  // Steps a cached statement that returns no rows (BEGIN, COMMIT: parsed
  // once, not at every transaction); SQLITE_OK or the error code.
  int run_prepared(const char* sql);
  void begin_immediate();
  void commit();
  void rollback() noexcept;
  void configure(const DatabaseOptions& options);
  // SQLite's busy handler: waits for another connection's lock in steps
  // that start at a yield and grow to 1 ms, until busy_wait_ has passed,
  // or until the calling thread's InterruptibleWaits scope says to stop
  // (Ctrl-C): it then sets wait_interrupted_, and the BEGIN or COMMIT that
  // was waiting throws WaitInterrupted (a callback of C code must not).
  static int on_busy(void* database, int attempts);
  // Throws WaitInterrupted if the busy wait that just failed was cut short.
  void throw_if_wait_interrupted();
  void ensure_schema();

  std::string path_;
  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_;
  std::chrono::milliseconds busy_wait_;
  std::chrono::steady_clock::time_point busy_since_;
  std::chrono::steady_clock::time_point last_interrupt_check_;
  bool wait_interrupted_ = false;
  std::map<const char*, std::unique_ptr<Statement>> statements_;
};

// Throws the engine exception for an SQLite result code: ConnectionFailed
// when the file cannot be used at all (not a database, corrupt, read-only),
// ConnectionClosed otherwise (disk full, I/O error, locked too long).
[[noreturn]] void raise_error(sqlite3* db, int code, std::string_view what);

// Throws ConnectionFailed when `path`'s directory is on a file system where
// SQLite's WAL locking does not work (NFS, SMB, ...), naming it.
void refuse_network_file_system(const std::string& path);

}  // namespace dramatiq::sqlite
