// Rate limiters, barriers and GroupCallbacks on every backend the engine
// ships (in-memory, a private redis-server, a private memcached in both
// protocols, an SQLite file in a temporary directory), plus the memcached
// client on its own.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "dramatiq/group_callbacks.hpp"
#include "dramatiq/rate_limit_backends.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"
#include "memcached/client.hpp"
#include "memcached_server.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;

namespace {

enum class Kind { Stub, Redis, MemcachedText, MemcachedBinary, SQLite };

std::string kind_name(const ::testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::Stub: return "Stub";
    case Kind::Redis: return "Redis";
    case Kind::MemcachedText: return "MemcachedText";
    case Kind::MemcachedBinary: return "MemcachedBinary";
    case Kind::SQLite: return "SQLite";
  }
  return "?";
}

// A unique key per call, so tests sharing a server never see each other's counters.
std::string fresh_key(const std::string& stem) {
  static std::atomic<int> counter{0};
  return stem + "-" + std::to_string(counter++) + "-" + std::to_string(current_millis());
}

class RateLimits : public ::testing::TestWithParam<Kind> {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    memcached_ = new MemcachedServer();
    std::string pattern = (std::filesystem::temp_directory_path() / "dramatiq-limits-XXXXXX").string();
    sqlite_dir_ = ::mkdtemp(pattern.data());
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete memcached_;
    redis_ = nullptr;
    memcached_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove_all(sqlite_dir_, ignored);
  }

  RateLimiterBackendPtr make_backend() {
    switch (GetParam()) {
      case Kind::Stub: return std::make_shared<StubRateLimiterBackend>();
      case Kind::Redis: return std::make_shared<RedisRateLimiterBackend>(redis_->options());
      case Kind::MemcachedText:
        return std::make_shared<MemcachedRateLimiterBackend>(memcached_->options(false));
      case Kind::MemcachedBinary:
        return std::make_shared<MemcachedRateLimiterBackend>(memcached_->options(true));
      case Kind::SQLite: {
        // One file for the suite, as a server is: keys are unique per test.
        SQLiteBackendOptions options;
        options.path = sqlite_dir_ + "/limits.db";
        return std::make_shared<SQLiteRateLimiterBackend>(options);
      }
    }
    return nullptr;
  }

  static RedisServer* redis_;
  static MemcachedServer* memcached_;
  static std::string sqlite_dir_;
  RateLimiterBackendPtr backend = make_backend();
};

RedisServer* RateLimits::redis_ = nullptr;
MemcachedServer* RateLimits::memcached_ = nullptr;
std::string RateLimits::sqlite_dir_;

// Far enough in the future that no test run crosses a bucket boundary.
constexpr std::int64_t kHugeBucket = 1'000'000'000'000;

}  // namespace

TEST_P(RateLimits, ConcurrentLimiterAdmitsUpToItsLimitAndFreesSlotsOnRelease) {
  ConcurrentRateLimiter limiter(backend, fresh_key("concurrent"), 2);
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());  // a refused attempt takes no slot
  limiter.release();
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
  limiter.release();
  limiter.release();
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
}

TEST_P(RateLimits, MutexSlotIsReleasedAtTheEndOfItsScope) {
  ConcurrentRateLimiter mutex(backend, fresh_key("mutex"), 1);
  {
    auto slot = mutex.acquire();
    EXPECT_TRUE(slot.acquired());
    EXPECT_THROW(mutex.acquire(), RateLimitExceeded);
    auto refused = mutex.acquire(/*raise_on_failure=*/false);
    EXPECT_FALSE(refused);
  }
  EXPECT_TRUE(mutex.acquire().acquired());
}

TEST_P(RateLimits, ConcurrentLimiterNeverAdmitsMoreThanItsLimitUnderContention) {
  ConcurrentRateLimiter limiter(backend, fresh_key("contention"), 2);
  std::atomic<int> holders{0};
  std::atomic<int> most{0};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        if (!limiter.try_acquire()) continue;
        int now = ++holders;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        ++admitted;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --holders;
        limiter.release();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_GT(admitted.load(), 0);
  // Every slot came back: the limit is whole again.
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_TRUE(limiter.try_acquire());
  EXPECT_FALSE(limiter.try_acquire());
}

TEST_P(RateLimits, BucketLimiterCountsAcquisitionsPerBucket) {
  BucketRateLimiter limiter(backend, fresh_key("bucket"), 3, kHugeBucket);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter.try_acquire();
  EXPECT_EQ(admitted, 3);
  limiter.release();  // slots are not given back
  EXPECT_FALSE(limiter.try_acquire());
}

TEST_P(RateLimits, BucketLimiterStartsAfreshInTheNextBucket) {
  BucketRateLimiter limiter(backend, fresh_key("short-bucket"), 1, 1000);
  std::string first_bucket = limiter.bucket_key(current_millis());
  EXPECT_TRUE(limiter.try_acquire() || limiter.bucket_key(current_millis()) != first_bucket);
  // Wait (bounded) until some acquisition succeeds in a later bucket.
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  bool admitted_later = false;
  while (!admitted_later && std::chrono::steady_clock::now() < deadline) {
    admitted_later = limiter.try_acquire() && limiter.bucket_key(current_millis()) != first_bucket;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(admitted_later);
}

TEST_P(RateLimits, WindowLimiterCountsAcquisitionsOverTheWindow) {
  WindowRateLimiter limiter(backend, fresh_key("window"), 3, 600);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter.try_acquire();
  EXPECT_EQ(admitted, 3);
}

TEST_P(RateLimits, WindowKeysArePerSecondNewestFirst) {
  WindowRateLimiter limiter(backend, "w", 1, 3);
  EXPECT_EQ(limiter.keys(100), (std::vector<std::string>{"w@100", "w@99", "w@98"}));
}

TEST_P(RateLimits, LimitersRejectNonPositiveLimits) {
  EXPECT_THROW(ConcurrentRateLimiter(backend, "k", 0), std::invalid_argument);
  EXPECT_THROW(BucketRateLimiter(backend, "k", 0), std::invalid_argument);
  EXPECT_THROW(WindowRateLimiter(backend, "k", 1, 0), std::invalid_argument);
  EXPECT_THROW(Barrier(backend, "k").create(0), std::invalid_argument);
}

TEST_P(RateLimits, BarrierClearsWhenTheLastPartyArrives) {
  Barrier barrier(backend, fresh_key("barrier"));
  EXPECT_TRUE(barrier.create(3));
  EXPECT_FALSE(barrier.create(3));
  EXPECT_FALSE(barrier.wait(false));
  EXPECT_FALSE(barrier.wait(false));
  EXPECT_TRUE(barrier.wait(false));
}

TEST_P(RateLimits, BlockedPartiesWakeWhenTheBarrierClears) {
  Barrier barrier(backend, fresh_key("blocking"));
  ASSERT_TRUE(barrier.create(3));
  std::atomic<int> cleared{0};
  std::vector<std::thread> parties;
  // Whichever arrives last clears it; the others block until then (or see
  // the event at once if they arrive after it).
  for (int i = 0; i < 3; ++i) {
    parties.emplace_back([&] { cleared += barrier.wait(true, std::chrono::milliseconds(20000)); });
  }
  for (auto& party : parties) party.join();
  EXPECT_EQ(cleared.load(), 3);
}

TEST_P(RateLimits, BlockingWaitTimesOutWhenPartiesAreMissing) {
  Barrier barrier(backend, fresh_key("timeout"));
  ASSERT_TRUE(barrier.create(2));
  EXPECT_FALSE(barrier.wait(true, std::chrono::milliseconds(100)));
}

TEST_P(RateLimits, BlockedPartyGivesUpWhenKeepWaitingSaysNo) {
  // How Ctrl-C cuts a Python Barrier.wait short.
  Barrier barrier(backend, fresh_key("interrupted"));
  ASSERT_TRUE(barrier.create(2));
  int checks = 0;
  EXPECT_FALSE(barrier.wait(std::nullopt, [&] { return ++checks < 3; }, std::chrono::milliseconds(10)));
  EXPECT_EQ(checks, 3);
}

TEST_P(RateLimits, BlockedPartyThatKeepsWaitingSeesTheBarrierClear) {
  Barrier barrier(backend, fresh_key("sliced"));
  ASSERT_TRUE(barrier.create(2));
  Latch waited_a_while;
  std::atomic<int> checks{0};
  std::thread party([&] {
    EXPECT_TRUE(barrier.wait(kLongWait, [&] {
      if (++checks == 2) waited_a_while.open();
      return true;
    }, std::chrono::milliseconds(10)));
  });
  ASSERT_TRUE(waited_a_while.wait());  // blocked across slices
  EXPECT_TRUE(barrier.wait(false));    // the last party clears it
  party.join();
}

TEST_P(RateLimits, GroupCallbacksEnqueueTheCallbacksOnceTheLastMemberSucceeds) {
  auto broker = std::make_shared<StubBroker>();
  auto callbacks = std::make_shared<GroupCallbacks>(backend);
  broker->add_middleware(callbacks);
  std::atomic<int> work_calls{0};
  std::mutex mutex;
  std::vector<Array> done_calls;
  broker->declare_actor(make_actor("work", [&](const Array&, const Object&) {
    ++work_calls;
    return Value();
  }));
  broker->declare_actor(make_actor("done", [&](const Array& args, const Object&) {
    std::lock_guard lock(mutex);
    done_calls.push_back(args);
    return Value();
  }));

  std::string uuid = fresh_key("group");
  ASSERT_TRUE(callbacks->create_barrier(uuid, 4));
  Value options = Value::object();
  options.set("group_completion_uuid", uuid);
  Array callback_list;
  callback_list.push_back(make_message("done", {Value("finished")}).to_value());
  options.set("group_completion_callbacks", Value(callback_list));
  for (int i = 0; i < 4; ++i) broker->enqueue(make_message("work", {i}, "default", options));

  Worker worker(broker, WorkerOptions{std::nullopt, 50, 4});
  worker.start();
  EXPECT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.join();
  worker.stop();
  EXPECT_EQ(work_calls.load(), 4);
  ASSERT_EQ(done_calls.size(), 1u);
  EXPECT_EQ(Value(done_calls[0]), Value(Array{Value("finished")}));
}

INSTANTIATE_TEST_SUITE_P(Backends, RateLimits,
                         ::testing::Values(Kind::Stub, Kind::Redis, Kind::MemcachedText,
                                           Kind::MemcachedBinary, Kind::SQLite),
                         kind_name);

TEST(RateLimitedActor, AFullLimitFailsTheMessageQuietly) {
  LogCapture logs;
  log::set_min_level(log::Level::Debug);
  auto backend = std::make_shared<StubRateLimiterBackend>();
  auto limiter = std::make_shared<ConcurrentRateLimiter>(backend, "busy", 1);
  auto held = limiter->acquire();  // the only slot is taken
  auto broker = std::make_shared<StubBroker>();
  std::atomic<int> ran{0};
  broker->declare_actor(make_actor("limited", [&](const Array&, const Object&) {
    auto slot = limiter->acquire();
    ++ran;
    return Value();
  }));
  broker->enqueue(make_message("limited", {}));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 1});
  worker.start();
  EXPECT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(logs.matching(log::Level::Debug, "Rate limit exceeded").size(), 1u);
  EXPECT_EQ(logs.count_at(log::Level::Error), 0u);
  log::set_min_level(log::Level::Info);
}

// ---- storage formats shared with upstream Dramatiq

TEST(RedisRateLimiterBackend, StoresDecimalCountersUnderTheLimiterKey) {
  RedisServer server;
  auto backend = std::make_shared<RedisRateLimiterBackend>(server.options());
  ConcurrentRateLimiter limiter(backend, "shared-key", 5, 60000);
  ASSERT_TRUE(limiter.try_acquire());
  ASSERT_TRUE(limiter.try_acquire());
  EXPECT_EQ(server.call({"GET", "shared-key"}).str, "2");
  long long ttl = server.call({"PTTL", "shared-key"}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60000);
  // A counter another client wrote is read as-is.
  server.call({"SET", "shared-key", "5", "PX", "60000"});
  EXPECT_FALSE(limiter.try_acquire());
}

TEST(RedisRateLimiterBackend, UnreachableServerIsAConnectionFailure) {
  RedisConnectionOptions options;
  {
    RedisServer server;  // find a port, then let it go
    options = server.options();
  }
  RedisRateLimiterBackend backend(options);
  EXPECT_THROW(backend.add("k", 1, 1000), ConnectionFailed);
}

TEST(MemcachedRateLimiterBackend, StoresCountersAsPylibmcStoresInts) {
  MemcachedServer server;
  auto backend = std::make_shared<MemcachedRateLimiterBackend>(server.options());
  ConcurrentRateLimiter limiter(backend, "shared-key", 5);
  ASSERT_TRUE(limiter.try_acquire());
  ASSERT_TRUE(limiter.try_acquire());
  memcached::Client client(server.options());
  auto item = client.get("shared-key");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "2");
  EXPECT_EQ(item->flags, memcached::flags::kInteger);
}

TEST(MemcachedRateLimiterBackend, ReadsCountersTheServerPaddedAfterADecrement) {
  MemcachedServer server;
  MemcachedRateLimiterBackend backend(server.options());
  memcached::Client client(server.options());
  client.set("w@1", "10", memcached::flags::kInteger, 60);
  client.decr("w@1", 1);  // the server may now hold "9 "
  auto keys = [] { return std::vector<std::string>{"w@2", "w@1"}; };
  EXPECT_TRUE(backend.incr_and_sum("w@2", keys, 1, 10, 60000));
  EXPECT_FALSE(backend.incr_and_sum("w@2", keys, 1, 10, 60000));
}

TEST(MemcachedRateLimiterBackend, UnreachableServerIsAConnectionFailure) {
  MemcachedOptions options;
  {
    MemcachedServer server;
    options = server.options();
  }
  MemcachedRateLimiterBackend backend(options);
  EXPECT_THROW(backend.add("k", 1, 1000), ConnectionFailed);
}

// ---- the memcached client

class MemcachedClientTest : public ::testing::TestWithParam<bool> {
 protected:
  MemcachedServer server;
  memcached::Client client{server.options(GetParam())};
};

TEST_P(MemcachedClientTest, GetSetAddRemove) {
  EXPECT_FALSE(client.get("a"));
  client.set("a", "hello", 16, 60);
  auto item = client.get("a");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "hello");
  EXPECT_EQ(item->flags, 16u);
  EXPECT_FALSE(client.add("a", "other", 0, 60));
  EXPECT_TRUE(client.add("b", "new", 0, 60));
  EXPECT_TRUE(client.remove("a"));
  EXPECT_FALSE(client.remove("a"));
  EXPECT_FALSE(client.get("a"));
}

TEST_P(MemcachedClientTest, IncrDecrOnDecimalValues) {
  EXPECT_FALSE(client.incr("n", 1));
  client.set("n", "10", memcached::flags::kInteger, 60);
  EXPECT_EQ(client.incr("n", 5), 15u);
  EXPECT_EQ(client.decr("n", 20), 0u);  // memcached stops at zero
  EXPECT_EQ(client.get("n")->flags, memcached::flags::kInteger);
}

TEST_P(MemcachedClientTest, CasSucceedsOnlyWithTheCurrentCasId) {
  client.set("c", "1", 0, 60);
  auto first = client.gets("c");
  ASSERT_TRUE(first);
  client.set("c", "2", 0, 60);  // someone else writes
  EXPECT_EQ(client.cas("c", "3", 0, 60, first->cas), memcached::CasResult::Exists);
  auto second = client.gets("c");
  EXPECT_EQ(client.cas("c", "3", 0, 60, second->cas), memcached::CasResult::Stored);
  EXPECT_EQ(client.get("c")->value, "3");
  EXPECT_EQ(client.cas("missing", "3", 0, 60, 1), memcached::CasResult::NotFound);
}

TEST_P(MemcachedClientTest, GetMultiReturnsTheKeysThatExist) {
  client.set("x", "1", 4, 60);
  client.set("y", "2", 4, 60);
  auto items = client.get_multi({"x", "y", "z"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items["x"].value, "1");
  EXPECT_EQ(items["y"].value, "2");
  EXPECT_TRUE(client.get_multi({}).empty());
}

TEST_P(MemcachedClientTest, SharedByManyThreads) {
  client.set("counter", "0", 4, 60);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) client.incr("counter", 1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(client.get("counter")->value, "1600");
}

INSTANTIATE_TEST_SUITE_P(Protocols, MemcachedClientTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Binary" : "Text";
                         });

TEST(MemcachedClient, RejectsBadConfiguration) {
  MemcachedOptions options;
  options.servers = {"udp:127.0.0.1:1"};
  EXPECT_THROW(memcached::Client{options}, std::invalid_argument);
  options.servers = {"127.0.0.1:notaport"};
  EXPECT_THROW(memcached::Client{options}, std::invalid_argument);
  options.servers = {"127.0.0.1"};
  options.behaviors = {{"no_such_behavior", 1}};
  EXPECT_THROW(memcached::Client{options}, std::invalid_argument);
  options.behaviors.clear();
  options.servers.clear();
  EXPECT_THROW(memcached::Client{options}, std::invalid_argument);
}

TEST(MemcachedClient, TextProtocolRejectsKeysWithSpaces) {
  MemcachedServer server;
  memcached::Client client(server.options(false));
  EXPECT_THROW(client.set("bad key", "1", 0, 60), std::invalid_argument);
}

TEST(MemcachedClient, ExpiryFromTtl) {
  EXPECT_EQ(memcached::expiry_from_ttl(1500), 1);
  EXPECT_EQ(memcached::expiry_from_ttl(10), 1);  // never 0, which would mean "forever"
  EXPECT_GT(memcached::expiry_from_ttl(86400000LL * 60), std::time(nullptr));  // absolute past 30 days
  EXPECT_EQ(memcached::expiry_from_ttl(1LL << 50), INT32_MAX);  // what the text protocol can read
}
