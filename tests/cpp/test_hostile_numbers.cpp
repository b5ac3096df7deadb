// Numbers in a message's options and fields come from any producer: NaN,
// +-1e300, the ends of the 64-bit range. The engine clamps them where it
// computes with them (eta, age, time limit, retry count, backoff) instead
// of overflowing or converting out of range, which is undefined behaviour:
// the UndefinedBehaviorSanitizer run (scripts/sanitize.sh) reports it.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;

TEST(HostileNumbers, InOptionsAreClampedNotOverflowed) {
  LogCapture logs;
  auto broker = std::make_shared<StubBroker>();
  broker->add_middleware(std::make_shared<AgeLimit>());
  broker->add_middleware(std::make_shared<TimeLimit>());
  broker->add_middleware(std::make_shared<Retries>());
  std::atomic<int> ran{0}, failed{0};
  broker->declare_actor(make_actor("ok", [&](const Array&, const Object&) {
    ran += 1;
    return Value();
  }));
  broker->declare_actor(make_actor("fail", [&](const Array&, const Object&) -> Value {
    failed += 1;
    throw std::runtime_error("boom");
  }));
  broker->declare_actor(make_actor("far", [&](const Array&, const Object&) { return Value(); }, "far"));
  auto raw = [](const std::string& queue, const std::string& actor, const std::string& options,
                const std::string& timestamp = "1") {
    return R"({"queue_name":")" + queue + R"(","actor_name":")" + actor + R"(","args":[],"kwargs":{},"options":)" +
           options + R"(,"message_id":"m","message_timestamp":)" + timestamp + "}";
  };
  const std::string now = std::to_string(current_millis());
  for (const char* eta : {"NaN", "-1e300", "-9223372036854775808", "-Infinity"}) {
    broker->put_raw("default", raw("default", "ok", std::string(R"({"eta":)") + eta + "}", now));
  }
  broker->put_raw("default", raw("default", "ok", R"({"max_age":1e300})", "-9223372036854775808"));
  broker->put_raw("default", raw("default", "ok", R"({"time_limit":1e300})", now));
  broker->put_raw("default", raw("default", "fail", R"({"retries":9223372036854775807,"max_retries":0})", now));
  broker->put_raw("default", raw("default", "fail",
                                 R"({"retries":3,"max_retries":4,"min_backoff":-1e300,"max_backoff":1e300})", now));
  // Due beyond any date: held, and given back when the worker stops.
  for (const char* eta : {"1e300", "9223372036854775807", "Infinity"}) {
    broker->put_raw("far", raw("far", "far", std::string(R"({"eta":)") + eta + "}", now));
  }

  Worker worker(broker, WorkerOptions{std::nullopt, 50, 2});
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  EXPECT_EQ(ran.load(), 6);
  EXPECT_EQ(failed.load(), 3);  // once, then twice (retries 3 and 4 of at most 4)
  EXPECT_EQ(broker->dead_letters().size(), 2u);
  EXPECT_EQ(broker->queue_size("far") + broker->queue_size("far.DQ"), 3u);
}
