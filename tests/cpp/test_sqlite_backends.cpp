// The SQLite results and rate-limit backends through the engine's C++ API,
// on real files in a temporary directory: what they leave in the file,
// expiry and purging, blocking waits woken by another process's commit,
// limiters and barriers shared by forked processes, and sharing one file
// with the embedded broker.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "dramatiq/json.hpp"
#include "dramatiq/rate_limit_backends.hpp"
#include "dramatiq/rate_limits.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "dramatiq/sqlite_result_backend.hpp"
#include "sqlite/doorbell.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dramatiq-sqlbk-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SQLiteBackendOptions on_file(const std::string& path) {
  SQLiteBackendOptions options;
  options.path = path;
  return options;
}

Message keyed(const std::string& id) {
  Message m;
  m.queue_name = "default";
  m.actor_name = "add";
  m.message_id = id;
  return m;
}

// One integer from the file through a connection of its own, as another
// process would read it.
std::int64_t scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

std::string text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
    out.assign(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Memory shared with forked children, for what they observed.
template <typename T>
class Shared {
 public:
  Shared() {
    void* memory = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    value_ = new (memory) T();
  }
  ~Shared() {
    value_->~T();
    ::munmap(value_, sizeof(T));
  }
  T& operator*() { return *value_; }
  T* operator->() { return value_; }

 private:
  T* value_;
};

// Forks a child that runs `body` and exits with its return code (1 on an
// exception). The child touches nothing of the parent's but the file.
template <typename Body>
pid_t fork_child(Body body) {
  pid_t child = ::fork();
  if (child == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  return child;
}

int exit_code(pid_t child) {
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A Unix pipe used as a one-shot signal between processes.
class Signal {
 public:
  Signal() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Signal() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void raise() { EXPECT_EQ(::write(fds_[1], "x", 1), 1); }
  bool wait() {
    char byte;
    return ::read(fds_[0], &byte, 1) == 1;
  }

 private:
  int fds_[2];
};

}  // namespace

// ---- results

TEST(SQLiteResultBackend, StoresTheEncodedResultWithItsExpiry) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  Message message = keyed("id-1");
  std::int64_t before = current_millis();
  backend.store_result(message, Value(Array{Value(1), Value("two")}), 60000);
  std::string key = backend.build_message_key(message);
  EXPECT_EQ(text(path, "SELECT value FROM dramatiq_results WHERE key = '" + key + "'"), "[1,\"two\"]");
  std::int64_t expires = scalar(path, "SELECT expires FROM dramatiq_results WHERE key = '" + key + "'");
  EXPECT_GE(expires, before + 60000);
  EXPECT_LE(expires, current_millis() + 60000);
  EXPECT_EQ(backend.get_result(message, false), Value(Array{Value(1), Value("two")}));
}

TEST(SQLiteResultBackend, FailuresAreStoredWrappedAndRaisedOnGet) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  Message message = keyed("id-2");
  Failure failure;
  failure.type_name = "ValueError";
  failure.message = "boom";
  backend.store_exception(message, failure, 10000);
  EXPECT_EQ(text(path, "SELECT value FROM dramatiq_results"),
            R"({"__t":"dramatiq.results.Result","exn":{"type":"ValueError","msg":"boom"}})");
  try {
    backend.get_result(message, false);
    FAIL() << "expected ResultFailure";
  } catch (const ResultFailure& e) {
    EXPECT_EQ(e.exception_type, "ValueError");
    EXPECT_EQ(e.exception_message, "boom");
  }
}

TEST(SQLiteResultBackend, MissingTimeoutExpiryAndPurge) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  Message message = keyed("id-3");
  EXPECT_THROW(backend.get_result(message, false), ResultMissing);
  EXPECT_THROW(backend.get_result(message, true, 50ms), ResultTimeout);
  backend.store_result(message, Value(3), 100);
  EXPECT_EQ(backend.get_result(message, false), Value(3));
  std::this_thread::sleep_for(200ms);
  EXPECT_THROW(backend.get_result(message, false), ResultMissing);
  EXPECT_THROW(backend.get_result(message, true, 20ms), ResultTimeout);
  // The expired row is still there until a later write purges it.
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM dramatiq_results"), 1);
  backend.store_result(keyed("id-4"), Value(4), 60000);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM dramatiq_results"), 1);
  EXPECT_EQ(backend.get_result(keyed("id-4"), false), Value(4));
}

TEST(SQLiteResultBackend, StoringAgainReplacesTheResultAndItsTtl) {
  TempDir dir;
  SQLiteResultBackend backend(on_file(dir.file("results.db")));
  Message message = keyed("id-5");
  backend.store_result(message, Value(1), 100);
  backend.store_result(message, Value(2), 60000);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(backend.get_result(message, false), Value(2));
}

TEST(SQLiteResultBackend, StoringRingsTheResultsDoorbell) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  Message message = keyed("id-6");
  sqlite::Doorbell bell(path + "-doorbell");
  std::string slot = "result:" + backend.build_message_key(message);
  std::uint32_t ticket = bell.ticket(slot);
  backend.store_result(message, Value(6), 10000);
  // Already rung: the wait returns at once, whatever its deadline.
  EXPECT_TRUE(bell.wait(slot, ticket, std::chrono::steady_clock::now()));
}

TEST(SQLiteResultBackend, BlockedGetWakesWhenAnotherProcessStoresTheResult) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  Message message = keyed("id-7");
  Signal waiting;
  pid_t child = fork_child([&] {
    if (!waiting.wait()) return 2;
    SQLiteResultBackend own(on_file(path));
    own.store_result(message, Value("from the child"), 60000);
    return 0;
  });
  std::thread starter([&] { waiting.raise(); });
  EXPECT_EQ(backend.get_result(message, true, kLongWait * 3), Value("from the child"));
  starter.join();
  EXPECT_EQ(exit_code(child), 0);
}

TEST(SQLiteResultBackend, ABackendMadeBeforeForkWorksInTheChild) {
  TempDir dir;
  std::string path = dir.file("results.db");
  SQLiteResultBackend backend(on_file(path));
  backend.store_result(keyed("parent"), Value(1), 60000);
  pid_t child = fork_child([&] {
    if (backend.get_result(keyed("parent"), false) != Value(1)) return 3;
    backend.store_result(keyed("child"), Value(2), 60000);
    return 0;
  });
  EXPECT_EQ(exit_code(child), 0);
  EXPECT_EQ(backend.get_result(keyed("child"), false), Value(2));
}

TEST(SQLiteResultBackend, SharesTheBrokersFileAndDefaultsToIt) {
  TempDir dir;
  const char* saved = std::getenv("XDG_DATA_HOME");
  std::optional<std::string> previous = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::setenv("XDG_DATA_HOME", dir.path().c_str(), 1);
  std::string expected = SQLiteBrokerOptions::default_path();
  EXPECT_EQ(expected, dir.file("dramatiq/broker.sqlite3"));
  // The directory does not exist yet: the backend creates it.
  SQLiteResultBackend backend;
  SQLiteRateLimiterBackend limits;
  SQLiteBroker broker({});
  if (previous) {
    ::setenv("XDG_DATA_HOME", previous->c_str(), 1);
  } else {
    ::unsetenv("XDG_DATA_HOME");
  }
  EXPECT_EQ(backend.file().path, expected);
  EXPECT_EQ(limits.options().path, expected);
  EXPECT_EQ(broker.options().path, expected);
  broker.declare_queue("default");
  broker.enqueue(make_message("add", {}, "default"));
  backend.store_result(keyed("shared"), Value(5), 60000);
  EXPECT_TRUE(limits.add("k", 1, 60000));
  EXPECT_EQ(scalar(expected, "SELECT count(*) FROM dramatiq_messages"), 1);
  EXPECT_EQ(scalar(expected, "SELECT count(*) FROM dramatiq_results"), 1);
  EXPECT_EQ(scalar(expected, "SELECT value FROM dramatiq_rate_limits WHERE key = 'k'"), 1);
  broker.close();
}

TEST(SQLiteResultBackend, UrlsNameThePathAndDurability) {
  auto options = SQLiteBackendOptions::from_url("sqlite:///tmp/x/results.db?durable=1&heartbeat_timeout=5");
  EXPECT_EQ(options.path, "/tmp/x/results.db");
  EXPECT_TRUE(options.durable);
  EXPECT_THROW(SQLiteBackendOptions::from_url("redis://localhost"), std::invalid_argument);
}

TEST(SQLiteResultBackend, RefusesAFileOfAnotherApplication) {
  TempDir dir;
  std::string path = dir.file("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE invoices (id INTEGER)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THROW(SQLiteResultBackend backend(on_file(path)), ConnectionFailed);
  EXPECT_THROW(SQLiteRateLimiterBackend limits(on_file(path)), ConnectionFailed);
}

// ---- rate limits

class SQLiteRateLimits : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path = dir.file("limits.db");
  std::shared_ptr<SQLiteRateLimiterBackend> backend = std::make_shared<SQLiteRateLimiterBackend>(on_file(path));
};

TEST_F(SQLiteRateLimits, PrimitivesFollowUpstreamsSemantics) {
  EXPECT_TRUE(backend->add("a", 5, 60000));
  EXPECT_FALSE(backend->add("a", 7, 60000));
  EXPECT_EQ(backend->get("a"), 5);
  EXPECT_TRUE(backend->incr("a", 2, 7, 60000));
  EXPECT_FALSE(backend->incr("a", 1, 7, 60000));
  EXPECT_EQ(backend->get("a"), 7);
  EXPECT_TRUE(backend->decr("a", 7, 0, 60000));
  EXPECT_FALSE(backend->decr("a", 1, 0, 60000));
  EXPECT_EQ(backend->get("a"), 0);
  // A missing key counts as 0.
  EXPECT_TRUE(backend->incr("b", 3, 3, 60000));
  EXPECT_FALSE(backend->decr("c", 1, 0, 60000));
  EXPECT_EQ(backend->get("c"), std::nullopt);
  // The sum covers the other keys and the amount.
  EXPECT_TRUE(backend->add("s1", 2, 60000));
  EXPECT_FALSE(backend->incr_and_sum("s0", [] { return std::vector<std::string>{"s0", "s1"}; }, 2, 3, 60000));
  EXPECT_TRUE(backend->incr_and_sum("s0", [] { return std::vector<std::string>{"s0", "s1"}; }, 1, 3, 60000));
  EXPECT_EQ(backend->get("s0"), 1);
  EXPECT_EQ(scalar(path, "SELECT value FROM dramatiq_rate_limits WHERE key = 's0'"), 1);
}

TEST_F(SQLiteRateLimits, CountersExpireAndArePurged) {
  EXPECT_TRUE(backend->add("short", 1, 100));
  EXPECT_TRUE(backend->incr("kept", 1, 10, 60000));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(backend->get("short"), std::nullopt);
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM dramatiq_rate_limits WHERE key = 'short'"), 1);
  // An expired counter counts as missing, and the next write purges it.
  EXPECT_TRUE(backend->add("short", 9, 60000));
  EXPECT_EQ(backend->get("short"), 9);
  EXPECT_TRUE(backend->add("other", 1, 60000));
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM dramatiq_rate_limits"), 3);
  EXPECT_TRUE(backend->add("gone", 1, 1));
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(backend->add("last", 1, 60000));
  EXPECT_EQ(scalar(path, "SELECT count(*) FROM dramatiq_rate_limits WHERE key = 'gone'"), 0);
}

TEST_F(SQLiteRateLimits, ConcurrentLimiterAdmitsUpToItsLimitAndFreesSlotsOnRelease) {
  ConcurrentRateLimiter limiter(backend, "concurrent", 2);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  limiter.release();
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_THROW(limiter.acquire(), RateLimitExceeded);
}

TEST_F(SQLiteRateLimits, BucketAndWindowLimitersCountAcquisitions) {
  BucketRateLimiter bucket(backend, "bucket", 2, 1'000'000'000'000);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
  WindowRateLimiter window(backend, "window", 3, 3600);
  EXPECT_TRUE(window.try_acquire());
  EXPECT_TRUE(window.try_acquire());
  EXPECT_TRUE(window.try_acquire());
  EXPECT_FALSE(window.try_acquire());
}

TEST_F(SQLiteRateLimits, ConcurrentLimiterOfOneHasOneHolderAcrossProcesses) {
  // Three processes, each taking the limit of 1 repeatedly on the same
  // file: the number of holders seen inside the slot is never above 1.
  Shared<std::atomic<int>> holders;
  Shared<std::atomic<int>> most;
  Shared<std::atomic<int>> admitted;
  Signal go;
  constexpr int kChildren = 3;
  constexpr int kAdmissions = 40;
  std::vector<pid_t> children;
  for (int i = 0; i < kChildren; ++i) {
    children.push_back(fork_child([&] {
      SQLiteRateLimiterBackend own(on_file(path));
      auto shared = std::shared_ptr<SQLiteRateLimiterBackend>(&own, [](auto*) {});
      ConcurrentRateLimiter mutex(shared, "mutex", 1);
      if (!go.wait()) return 2;
      int mine = 0;
      while (mine < kAdmissions) {
        auto slot = mutex.acquire(false);
        if (!slot) continue;
        int now = holders->fetch_add(1) + 1;
        int seen = most->load();
        while (now > seen && !most->compare_exchange_weak(seen, now)) {
        }
        // Hold the slot a little, so a second holder would overlap.
        std::this_thread::sleep_for(200us);
        holders->fetch_sub(1);
        mine += 1;
      }
      *admitted += mine;
      return 0;
    }));
  }
  for (int i = 0; i < kChildren; ++i) go.raise();
  for (pid_t child : children) EXPECT_EQ(exit_code(child), 0);
  EXPECT_EQ(most->load(), 1);
  EXPECT_EQ(admitted->load(), kChildren * kAdmissions);
  EXPECT_EQ(backend->get("mutex"), 0);
}

TEST_F(SQLiteRateLimits, BarrierClearsWhenTheLastPartyArrives) {
  Barrier barrier(backend, "barrier");
  EXPECT_TRUE(barrier.create(3));
  EXPECT_FALSE(barrier.create(3));
  EXPECT_FALSE(barrier.wait(false));
  EXPECT_FALSE(barrier.wait(false));
  EXPECT_TRUE(barrier.wait(false));
}

TEST_F(SQLiteRateLimits, BlockingWaitTimesOutWhenPartiesAreMissing) {
  Barrier barrier(backend, "lonely");
  ASSERT_TRUE(barrier.create(2));
  EXPECT_FALSE(barrier.wait(true, 100ms));
}

TEST_F(SQLiteRateLimits, AnEventIsSeenByPartiesThatWaitAfterItUntilItExpires) {
  EXPECT_FALSE(backend->wait("ev", 0ms));
  backend->wait_notify("ev", 150);
  EXPECT_TRUE(backend->wait("ev", 0ms));
  EXPECT_TRUE(backend->wait("ev", 10ms));
  std::this_thread::sleep_for(250ms);
  EXPECT_FALSE(backend->wait("ev", 0ms));
}

TEST_F(SQLiteRateLimits, BarrierPartiesInOtherProcessesWakeWhenItClears) {
  Barrier barrier(backend, "cross-process");
  ASSERT_TRUE(barrier.create(3));
  Shared<std::atomic<int>> arrived;
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    children.push_back(fork_child([&] {
      auto own = std::make_shared<SQLiteRateLimiterBackend>(on_file(path));
      Barrier mine(own, "cross-process");
      *arrived += 1;
      return mine.wait(true, kLongWait * 3) ? 0 : 4;
    }));
  }
  // The children count as arrived once the barrier counted them down.
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (backend->get("cross-process") != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(backend->get("cross-process"), 1);
  EXPECT_TRUE(barrier.wait(false));  // the last party clears it
  for (pid_t child : children) EXPECT_EQ(exit_code(child), 0);
  EXPECT_EQ(arrived->load(), 2);
}

TEST_F(SQLiteRateLimits, NotifyRingsTheEventsDoorbell) {
  sqlite::Doorbell bell(path + "-doorbell");
  std::uint32_t ticket = bell.ticket("event:ev");
  backend->wait_notify("ev", 10000);
  EXPECT_TRUE(bell.wait("event:ev", ticket, std::chrono::steady_clock::now()));
}
