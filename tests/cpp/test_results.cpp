// Results through the engine's C++ API: result keys, stored values, the
// Results middleware on a worker, the Stub and Redis result backends.
#include <gtest/gtest.h>

#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/redis_result_backend.hpp"
#include "dramatiq/results.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/stub_result_backend.hpp"
#include "dramatiq/worker.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

Message keyed(const std::string& queue, const std::string& actor, const std::string& id) {
  Message m;
  m.queue_name = queue;
  m.actor_name = actor;
  m.message_id = id;
  return m;
}

Value options_with(std::initializer_list<std::pair<std::string, Value>> entries) {
  Value options = Value::object();
  for (const auto& [key, value] : entries) options.set(key, value);
  return options;
}

}  // namespace

TEST(ResultBackend, KeyIsMd5OfNamespaceQueueActorAndId) {
  StubResultBackend backend;
  // md5("dramatiq-results:default:add:abc")
  EXPECT_EQ(backend.build_message_key(keyed("default", "add", "abc")), "0d5330a2b197dba907a542eca7ad0775");
  EXPECT_EQ(backend.build_message_key(keyed("default.DQ", "add", "abc")),
            backend.build_message_key(keyed("default", "add", "abc")));
  StubResultBackend readable({"ns", true, nullptr});
  EXPECT_EQ(readable.build_message_key(keyed("q.DQ", "add", "abc")), "ns:q:add:abc");
}

TEST(ResultBackend, FailuresAreStoredWrappedAndRaisedOnGet) {
  StubResultBackend backend;
  Message message = keyed("default", "add", "id-1");
  Failure failure;
  failure.type_name = "ValueError";
  failure.message = "boom";
  backend.store_exception(message, failure, 10000);
  EXPECT_EQ(backend.get_stored(message, false),
            Value(Object{{"__t", Value("dramatiq.results.Result")},
                         {"exn", Value(Object{{"type", Value("ValueError")}, {"msg", Value("boom")}})}}));
  try {
    backend.get_result(message, false);
    FAIL() << "expected ResultFailure";
  } catch (const ResultFailure& e) {
    EXPECT_EQ(e.exception_type, "ValueError");
    EXPECT_EQ(e.exception_message, "boom");
    EXPECT_STREQ(e.what(), "actor raised ValueError: boom");
  }
}

TEST(ResultBackend, MissingTimeoutAndExpiry) {
  StubResultBackend backend;
  Message message = keyed("default", "add", "id-2");
  EXPECT_THROW(backend.get_result(message, false), ResultMissing);
  EXPECT_THROW(backend.get_result(message, true, 50ms), ResultTimeout);
  backend.store_result(message, Value(3), 100);
  EXPECT_EQ(backend.get_result(message, false), Value(3));
  std::this_thread::sleep_for(200ms);
  EXPECT_THROW(backend.get_result(message, false), ResultMissing);
}

TEST(ResultBackend, BlockingWaitWakesWhenTheResultIsStored) {
  StubResultBackend backend;
  Message message = keyed("default", "add", "id-3");
  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    backend.store_result(message, Value("done"), 10000);
  });
  EXPECT_EQ(backend.get_result(message, true, kLongWait), Value("done"));
  producer.join();
}

TEST(ResultsMiddleware, StoresResultsOfActorsThatAskForIt) {
  auto broker = std::make_shared<StubBroker>();
  auto backend = std::make_shared<StubResultBackend>();
  // Retries is what fails a message for good (as upstream); only then is
  // its failure stored.
  broker->add_middleware(std::make_shared<Retries>());
  broker->add_middleware(std::make_shared<Results>(backend));
  broker->declare_actor(make_actor(
      "add", [](const Array& args, const Object&) { return Value(args[0].as_int() + args[1].as_int()); },
      "default", 0, options_with({{"store_results", Value(true)}})));
  broker->declare_actor(make_actor(
      "fail", [](const Array&, const Object&) -> Value { throw std::runtime_error("nope"); }, "default", 0,
      options_with({{"store_results", Value(true)}, {"max_retries", Value(0)}})));
  broker->declare_actor(make_actor("untracked", [](const Array&, const Object&) { return Value(1); }));

  Message added = broker->enqueue(make_message("add", {Value(20), Value(22)}));
  Message failed = broker->enqueue(make_message("fail", {}));
  Message untracked = broker->enqueue(make_message("untracked", {}));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 2});
  worker.start();
  EXPECT_EQ(backend->get_result(added, true, kLongWait), Value(42));
  EXPECT_THROW(backend->get_result(failed, true, kLongWait), ResultFailure);
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_THROW(backend->get_result(untracked, false), ResultMissing);
}

TEST(ResultsMiddleware, UnserializableResultDeadLettersTheMessage) {
  LogCapture logs;
  auto broker = std::make_shared<StubBroker>();
  auto backend = std::make_shared<StubResultBackend>();
  broker->add_middleware(std::make_shared<Results>(backend, true));
  broker->declare_actor(make_actor(
      "opaque", [](const Array&, const Object&) { return Value(ForeignPtr(std::make_shared<CustomObject>())); }));
  Message message = broker->enqueue(make_message("opaque", {}));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 1});
  worker.start();
  try {
    backend->get_result(message, true, kLongWait);
    FAIL() << "expected ResultFailure";
  } catch (const ResultFailure& e) {
    EXPECT_EQ(e.exception_type, "TypeError");
  }
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(broker->dead_letters().size(), 1u);
  EXPECT_EQ(logs.matching(log::Level::Error, "Failed to store the result").size(), 1u);
}

TEST(RedisResultBackend, StoresAsUpstreamAndWaitsOnTheServer) {
  RedisServer server;
  RedisResultBackend backend(RedisConnectionOptions::from_url(server.url()));
  Message message = keyed("default", "add", "id-4");
  std::string key = backend.build_message_key(message);
  EXPECT_THROW(backend.get_result(message, false), ResultMissing);
  EXPECT_THROW(backend.get_result(message, true, 100ms), ResultTimeout);

  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    backend.store_result(message, Value(Object{{"x", Value(1)}}), 60000);
  });
  EXPECT_EQ(backend.get_result(message, true, kLongWait), Value(Object{{"x", Value(1)}}));
  producer.join();
  auto stored = server.call({"LRANGE", key, "0", "-1"});
  ASSERT_EQ(stored.elements.size(), 1u);
  EXPECT_EQ(stored.elements[0].str, "{\"x\":1}");
  auto ttl = server.call({"PTTL", key}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60000);
}

TEST(RedisResultBackend, UnreachableServerIsAConnectionError) {
  // Nothing listens on port 1 (a privileged port no test server uses).
  auto options = RedisConnectionOptions::from_url("redis://127.0.0.1:1/0");
  RedisResultBackend backend(options);
  EXPECT_THROW(backend.get_result(keyed("default", "add", "id-5"), false), ConnectionFailed);
}
