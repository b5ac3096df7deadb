// The C++ API (include/dramatiq/dramatiq.hpp) end to end on the stub
// broker: typed actors, their failures, results, composition, URLs, the
// default middleware, cooperative interruption and the shutdown helper.
#include "dramatiq/dramatiq.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace dramatiq;
using namespace std::chrono_literals;
using dramatiq::testing::kLongWait;

namespace billing {
// A user's exception class, named by its qualified name.
class PaymentDeclined : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
}  // namespace billing

namespace {

// Retries after a millisecond, so tests that go through retries are quick.
const Object kFastRetries{{"min_backoff", 1}, {"max_backoff", 2}};

class TypedActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker = connect("stub://");
    broker->add_middleware(std::make_shared<Results>(std::make_shared<StubResultBackend>()));
  }
  void TearDown() override {
    if (worker) worker->stop(10s);
    broker->close();
  }
  StubBroker& stub() { return dynamic_cast<StubBroker&>(*broker); }
  void start_worker() {
    worker = std::make_unique<Worker>(broker, WorkerOptions{.worker_timeout_ms = 20, .worker_threads = 2});
    worker->start();
  }
  // The result failure of `message`: its exception's type and text.
  template <typename R>
  std::pair<std::string, std::string> failure_of(const TypedMessage<R>& message) {
    try {
      message.get_result(kLongWait);
    } catch (const ResultFailure& failure) {
      return {failure.exception_type, failure.exception_message};
    }
    return {"(no failure)", ""};
  }
  const Value* dead_letter_option(const std::string& message_id, const char* name) {
    for (const auto& letter : stub().dead_letters()) {
      if (letter.message->message.message_id == message_id) return letter.message->message.options.find(name);
    }
    return nullptr;
  }
  bool is_dead_letter(const std::string& message_id) {
    for (const auto& letter : stub().dead_letters()) {
      if (letter.message->message.message_id == message_id) return true;
    }
    return false;
  }

  std::shared_ptr<Broker> broker;
  std::unique_ptr<Worker> worker;
};

TEST_F(TypedActorTest, RunsWithConvertedArgumentsAndReturnsATypedResult) {
  auto add = actor(broker, "add", [](int a, int b) { return a + b; }, {.store_results = true});
  start_worker();
  EXPECT_EQ(add.send(2, 3).get_result(kLongWait), 5);
}

TEST_F(TypedActorTest, ContainersStringsAndAMissingTrailingOptional) {
  auto describe = actor(
      broker, "describe",
      [](const std::string& name, std::vector<int> values, std::map<std::string, double> weights,
         std::optional<std::string> suffix) {
        double total = 0;
        for (int v : values) total += v * weights.at(name);
        return std::map<std::string, std::string>{{name, std::to_string(static_cast<int>(total)) +
                                                             suffix.value_or("!")}};
      },
      {.store_results = true});
  start_worker();
  auto full = describe.send("w", {1, 2}, {{"w", 10.0}}, std::string("?"));
  EXPECT_EQ(full.get_result(kLongWait), (std::map<std::string, std::string>{{"w", "30?"}}));
  // A sender that leaves the optional parameter out.
  ActorRef<std::map<std::string, std::string>(std::string, std::vector<int>, std::map<std::string, double>)>
      shorter(broker, "describe");
  EXPECT_EQ(shorter.send("w", {3}, {{"w", 1.0}}).get_result(kLongWait),
            (std::map<std::string, std::string>{{"w", "3!"}}));
}

TEST_F(TypedActorTest, VoidActorsAndValueParameters) {
  std::atomic<int> seen{0};
  auto record = actor(broker, "record", [&](Value v) { seen = static_cast<int>(v.as_array().size()); },
                      {.store_results = true});
  start_worker();
  auto message = record.send(Value(Array{1, "a", Value()}));
  message.get_result(kLongWait);  // void: returns once the actor finished
  EXPECT_EQ(seen.load(), 3);
}

TEST_F(TypedActorTest, ArgumentsThatDoNotConvertFailTheMessageAndAreDeadLetteredAfterRetries) {
  auto add = actor(broker, "add", [](int a, int b) { return a + b; },
                   {.max_retries = 2, .store_results = true, .extra = kFastRetries});
  start_worker();
  ActorRef<int(std::string, int)> wrong(broker, "add");
  auto bad = wrong.send("two", 3);
  EXPECT_EQ(failure_of(bad), std::make_pair(std::string("dramatiq::ArgumentError"),
                                            std::string("actor 'add' argument 0: expected int, got str")));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  ASSERT_TRUE(is_dead_letter(bad.message_id()));
  const Value* retries = dead_letter_option(bad.message_id(), "retries");
  ASSERT_NE(retries, nullptr);
  EXPECT_EQ(*retries, Value(3));  // counted up before the last attempt is found exhausted, as upstream
  // The worker is still there for good messages.
  EXPECT_EQ(add.send(1, 1).get_result(kLongWait), 2);
}

TEST_F(TypedActorTest, NestedConversionErrorsSayWhere) {
  auto total = actor(broker, "total", [](std::vector<int> xs) { return static_cast<int>(xs.size()); },
                     {.max_retries = 0, .store_results = true});
  start_worker();
  ActorRef<int(Value)> raw(broker, "total");
  EXPECT_EQ(failure_of(raw.send(Value(Array{1, 2.5}))).second,
            "actor 'total' argument 0: at [1]: expected int, got float");
}

TEST_F(TypedActorTest, WrongArgumentCountsAndKeywordArgumentsAreClearErrors) {
  auto add = actor(broker, "add", [](int a, int b) { return a + b; }, {.max_retries = 0, .store_results = true});
  start_worker();
  ActorRef<int(int, int, int)> three(broker, "add");
  EXPECT_EQ(failure_of(three.send(1, 2, 3)).second, "actor 'add' takes 2 arguments, the message has 3");
  Message with_kwargs = Message::create("default", "add", Value(Array{1, 2}), Value(Object{{"c", 3}}),
                                        Value::object());
  TypedMessage<int> sent(broker, broker->enqueue(with_kwargs));
  EXPECT_EQ(failure_of(sent).second,
            "actor 'add' takes no keyword arguments (C++ parameters have no names), the message has 'c'");
}

TEST_F(TypedActorTest, FailuresAreNamedByTheirDemangledClassAndThrowsMatchesThatName) {
  std::atomic<int> runs{0};
  auto charge = actor(
      broker, "charge",
      [&](int) -> int {
        runs += 1;
        throw billing::PaymentDeclined("card expired");
      },
      {.max_retries = 5, .throws = {"billing::PaymentDeclined"}, .store_results = true, .extra = kFastRetries});
  start_worker();
  auto message = charge.send(10);
  EXPECT_EQ(failure_of(message), std::make_pair(std::string("billing::PaymentDeclined"), std::string("card expired")));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  // Not retried: `throws` named it.
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(dead_letter_option(message.message_id(), "retries"), nullptr);
}

TEST_F(TypedActorTest, ExceptionTypesMatchSubclasses) {
  std::atomic<int> runs{0};
  auto parse = actor(
      broker, "parse",
      [&](std::string text) -> int {
        runs += 1;
        return std::stoi(text);  // std::invalid_argument, a std::logic_error
      },
      {.max_retries = 5, .throws = exception_types<std::logic_error>(), .store_results = true,
       .extra = kFastRetries});
  start_worker();
  auto message = parse.send("not a number");
  EXPECT_EQ(failure_of(message).first, "std::invalid_argument");
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(TypedActorTest, RetryWhenSeesTheCppException) {
  std::mutex mutex;
  std::vector<std::string> seen;
  auto flaky = actor(
      broker, "flaky", [](int) -> int { throw billing::PaymentDeclined("try later"); },
      {.retry_when =
           [&](std::int64_t retries, const CaughtException& error) {
             std::lock_guard lock(mutex);
             bool declined = false;
             try {
               std::rethrow_exception(error.error());
             } catch (const billing::PaymentDeclined&) {
               declined = true;
             } catch (...) {
             }
             seen.push_back(error.type_name() + "/" + error.message() + "/" + (declined ? "caught" : "?"));
             return retries < 1;
           },
       .store_results = true,
       .extra = kFastRetries});
  start_worker();
  auto message = flaky.send(1);
  EXPECT_EQ(failure_of(message).first, "billing::PaymentDeclined");
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<std::string>{"billing::PaymentDeclined/try later/caught",
                                            "billing::PaymentDeclined/try later/caught"}));
  EXPECT_TRUE(is_dead_letter(message.message_id()));
}

TEST_F(TypedActorTest, TimeLimitInterruptsAtTheCheckPoint) {
  auto spin = actor(
      broker, "spin",
      [](int) {
        auto give_up = std::chrono::steady_clock::now() + kLongWait;
        while (!this_message::interrupted()) {
          if (std::chrono::steady_clock::now() > give_up) return -1;
          std::this_thread::yield();
        }
        this_message::check_interrupted();
        return 0;  // not reached: check_interrupted threw
      },
      {.max_retries = 0, .time_limit = 10ms, .store_results = true});
  start_worker();
  EXPECT_EQ(failure_of(spin.send(1)), std::make_pair(std::string("dramatiq::TimeLimitExceeded"),
                                                     std::string("time limit exceeded")));
  // Nothing stays pending for the next message on that thread.
  auto quick = actor(broker, "quick", [] { return this_message::interrupted(); }, {.store_results = true});
  EXPECT_FALSE(quick.send().get_result(kLongWait));
  EXPECT_FALSE(quick.send().get_result(kLongWait));
}

TEST_F(TypedActorTest, PipelinesPassResultsAndGroupsRunSideBySide) {
  auto add = actor(broker, "add", [](int a, int b) { return a + b; }, {.store_results = true});
  ActorRef<int(int)> add_to(broker, "add");
  start_worker();
  Pipeline chain(broker, {add.message(1, 2), add_to.message(10), add_to.message(100)});
  EXPECT_EQ(chain.run().get_result<int>(kLongWait), 113);
  Group squares(broker, {add.message(1, 1), add.message(2, 2), add.message(3, 3)});
  EXPECT_EQ(squares.run().get_results<int>(kLongWait), (std::vector<int>{2, 4, 6}));
}

TEST_F(TypedActorTest, DelaysAreDurations) {
  auto add = actor(broker, "add", [](int a, int b) { return a + b; }, {.store_results = true});
  start_worker();
  auto delayed = add.send_with_options({.delay = 1ms}, 4, 5);
  EXPECT_EQ(delayed.message().queue_name, "default.DQ");
  EXPECT_TRUE(delayed.message().options.contains("eta"));
  EXPECT_EQ(delayed.get_result(kLongWait), 9);
}

TEST_F(TypedActorTest, OptionsNoMiddlewareKnowsAreRefused) {
  EXPECT_THROW(actor(broker, "odd", [] {}, {.extra = {{"no_such_option", 1}}}), std::invalid_argument);
  EXPECT_THROW(actor(broker, "bad name", [] {}, {.queue = "has space"}), std::invalid_argument);
}

TEST_F(TypedActorTest, GetResultWithoutResultsMiddlewareSaysSo) {
  auto plain = connect("stub://");
  auto add = actor(plain, "add", [](int a, int b) { return a + b; });
  EXPECT_THROW(add.send(1, 2).get_result(1ms), std::logic_error);
}

TEST(Connect, SchemesAreCheckedOnce) {
  EXPECT_EQ(broker_url_scheme("REDIS://localhost"), "redis");
  EXPECT_EQ(broker_url_scheme("sqlite:///tmp/x.sqlite3"), "sqlite");
  try {
    connect("bogus://x");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "Unsupported broker URL 'bogus://x': expected one of sqlite://, redis://, rediss://, "
              "unix://, amqp://, amqps://, stub://");
  }
  EXPECT_THROW(connect("no scheme"), std::invalid_argument);
}

TEST(Connect, BrokersGetTheDefaultMiddlewareInOrder) {
  EXPECT_EQ(default_middleware_names(),
            (std::vector<std::string>{"AgeLimit", "TimeLimit", "ShutdownNotifications", "Callbacks",
                                      "Pipelines", "Retries"}));
  auto broker = connect("stub://");
  std::vector<std::string> names;
  for (const auto& m : *broker->middleware()) names.push_back(m->name());
  EXPECT_EQ(names, default_middleware_names());
  auto bare = connect("stub://", {.middleware = std::vector<std::shared_ptr<Middleware>>{}});
  EXPECT_TRUE(bare->middleware()->empty());
}

// A user middleware is a C++ class with the hooks it needs.
class CountingMiddleware : public Middleware {
 public:
  std::string name() const override { return "CountingMiddleware"; }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override { processed += 1; }
  std::atomic<int> processed{0};
};

TEST_F(TypedActorTest, UserMiddlewareSeesHooks) {
  auto counting = std::make_shared<CountingMiddleware>();
  broker->add_middleware(counting);
  auto add = actor(broker, "add", [](int a, int b) { return a + b; }, {.store_results = true});
  start_worker();
  EXPECT_EQ(add.send(1, 2).get_result(kLongWait), 3);
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  EXPECT_EQ(counting->processed.load(), 1);
}

TEST(ShutdownSignal, WaitEndsOnSigterm) {
  int received = wait_for_shutdown_signal([] { kill(getpid(), SIGTERM); });
  EXPECT_EQ(received, SIGTERM);
  // The previous disposition is back (the default for a test process).
  struct sigaction current {};
  sigaction(SIGTERM, nullptr, &current);
  EXPECT_EQ(current.sa_handler, SIG_DFL);
}

}  // namespace
