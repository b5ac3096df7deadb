// The Worker running C++ actors against a StubBroker: delivery, ordering,
// delays, dead letters, stop/requeue and pause/resume, as a C++ user of the
// engine observes them.
//
// No assertion here depends on how long something took: tests wait for
// conditions (with generous timeouts that only bound a hang) and compare
// timestamps only where the engine itself promises an ordering (a delayed
// message never runs before its eta).
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"

#include "test_support.hpp"
#include "settlement_scenario.hpp"
#include "tracking_broker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

// An actor body that remembers every message it ran and when.
class RecordingBody : public ActorBody, public Calls {
 public:
  Value run(MessageProxy& proxy) override { return record(proxy.message); }
};

// A StubBroker whose consumers report hand-overs and settlements (see
// tracking_broker.hpp).
using HandoffBroker = TrackingBroker<StubBroker>;

// Records thread-shutdown hooks so a test can tell that Worker::stop() has
// begun shutting worker threads down.
class ShutdownWatcher : public Middleware {
 public:
  std::string name() const override { return "ShutdownWatcher"; }
  void before_worker_thread_shutdown(Broker&, const ThreadInfo&) override { worker_thread_down.open(); }
  Latch worker_thread_down;
};

class EngineWorker : public ::testing::Test {
 protected:
  static WorkerOptions options(int threads) { return WorkerOptions{std::nullopt, 50, threads}; }
  bool join_queue(StubBroker& b, const std::string& queue) {
    return b.join(queue, {.timeout = kLongWait});
  }

  LogCapture logs;  // declared first: outlives every worker a test creates
  std::shared_ptr<StubBroker> broker = std::make_shared<StubBroker>();
};

std::string id_of_raw(const std::string& raw) { return JsonEncoder().decode(raw).message_id; }

}  // namespace

// ----------------------------------------------------------------- delivery

TEST_F(EngineWorker, ProcessesEveryMessageExactlyOnce) {
  std::mutex mutex;
  std::map<std::int64_t, int> seen;
  auto record = [&](const Array& args, const Object&) {
    std::lock_guard lock(mutex);
    seen[args.at(0).as_int()] += 1;
    return Value();
  };
  broker->declare_actor(make_actor("a", record, "qa"));
  broker->declare_actor(make_actor("b", record, "qb"));

  constexpr int kMessages = 300;
  auto send = [&](int i) {
    broker->enqueue(make_message(i % 2 ? "a" : "b", {i}, i % 2 ? "qa" : "qb"));
  };
  // Half are enqueued before the worker starts, half while it runs.
  for (int i = 0; i < kMessages / 2; ++i) send(i);
  Worker worker(broker, options(4));
  worker.start();
  for (int i = kMessages / 2; i < kMessages; ++i) send(i);

  ASSERT_TRUE(join_queue(*broker, "qa"));
  ASSERT_TRUE(join_queue(*broker, "qb"));
  worker.join();
  worker.stop();

  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kMessages));
  for (auto& [i, n] : seen) EXPECT_EQ(n, 1) << "message " << i;
  EXPECT_EQ(broker->queue_size("qa"), 0u);
  EXPECT_EQ(broker->queue_size("qb"), 0u);
  EXPECT_TRUE(broker->dead_letters().empty());
}

TEST_F(EngineWorker, ArgsAndKwargsReachTheActor) {
  std::mutex mutex;
  std::optional<Array> got_args;
  std::optional<Object> got_kwargs;
  broker->declare_actor(make_actor("f", [&](const Array& args, const Object& kwargs) {
    std::lock_guard lock(mutex);
    got_args = args;
    got_kwargs = kwargs;
    return Value();
  }));
  broker->enqueue(Message::create("default", "f", Value(Array{1, "two", Value(Array{3.5})}),
                                  Value(Object{{"k", nullptr}}), Value::object()));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  std::lock_guard lock(mutex);
  ASSERT_TRUE(got_args && got_kwargs);
  EXPECT_EQ(Value(*got_args), Value(Array{1, "two", Value(Array{3.5})}));
  EXPECT_EQ(Value(*got_kwargs), Value(Object{{"k", nullptr}}));
}

TEST_F(EngineWorker, ActorsThatRunLongStillRunInParallel) {
  // Worker threads sleep until a push finds them all asleep, so a burst of
  // messages first goes to one thread; when its actor keeps it busy, the
  // sleepers must join in. The worker timeout (6 s) is longer than the
  // actors wait for each other (5 s), so the threads' periodic wake-up
  // cannot be what starts them.
  Rendezvous all_running(4, 5000ms);
  std::atomic<int> met{0};
  broker->declare_actor(make_actor("meet", [&](const Array&, const Object&) {
    if (all_running.arrive_and_wait()) met += 1;
    return Value();
  }));
  Worker worker(broker, WorkerOptions{std::nullopt, 6000, 4});
  worker.start();
  for (int i = 0; i < 4; ++i) broker->enqueue(make_message("meet", {i}));
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  EXPECT_EQ(met.load(), 4) << "the four actors never ran at the same time";
}

TEST_F(EngineWorker, SingleThreadRunsOneQueueInFifoOrder) {
  // One consumer and one worker thread: equal-priority messages must come
  // out in the order they were enqueued.
  std::mutex mutex;
  std::vector<std::int64_t> order;
  broker->declare_actor(make_actor("f", [&](const Array& args, const Object&) {
    std::lock_guard lock(mutex);
    order.push_back(args.at(0).as_int());
    return Value();
  }));
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 30; ++i) {
    broker->enqueue(make_message("f", {i}));
    expected.push_back(i);
  }
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, expected);
}

// Blocks the first enqueue made after arm() until `released` opens, and
// records whether it opened before the wait's bound.
class BlockingEnqueue : public Middleware {
 public:
  std::string name() const override { return "BlockingEnqueue"; }
  void before_enqueue(Broker&, Message&, Delay) override {
    if (!armed_.exchange(false)) return;
    released_in_time = released.wait();
  }
  void arm() { armed_ = true; }
  Latch released;
  std::atomic<bool> released_in_time{false};

 private:
  std::atomic<bool> armed_{false};
};

TEST_F(EngineWorker, WorkerThreadTakesMessagesOffAnInProcessBrokerWhileTheConsumerThreadIsBusy) {
  // A message already due sits first on the queue: the consumer thread
  // holds it, then moves it back to its queue, and that enqueue blocks until
  // the other messages have run. Only a worker thread that fetches from the
  // (in-process) broker itself can run them meanwhile; handing every
  // message through the consumer thread would leave it idle, and the wait
  // would run out.
  constexpr int kMessages = 20;
  auto blocker = std::make_shared<BlockingEnqueue>();
  broker->add_middleware(blocker);
  std::atomic<int> ran{0};
  broker->declare_actor(make_actor("f", [&](const Array& args, const Object&) {
    if (args.at(0).as_int() >= 0 && ran.fetch_add(1) + 1 == kMessages) blocker->released.open();
    return Value();
  }));
  Message due = make_message("f", {-1});
  due.options.set("eta", current_millis());
  broker->put_raw("default", JsonEncoder().encode(due));
  for (int i = 0; i < kMessages; ++i) broker->enqueue(make_message("f", {i}));
  blocker->arm();

  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  EXPECT_TRUE(blocker->released_in_time);
  EXPECT_EQ(ran.load(), kMessages);
}

TEST_F(EngineWorker, LowerPriorityValueRunsFirstThenArrivalOrder) {
  // The work queue orders by actor priority (lower first), then arrival.
  // One worker thread is held busy by a gate actor while messages from
  // four queues are handed to the work queue one after another: the lowest
  // priority value first, the two priority-0 ones last. Once the gate opens
  // the single thread must run them by priority, the two equal ones FIFO.
  auto handoff = std::make_shared<HandoffBroker>();
  Latch gate_started, gate_release;
  std::mutex mutex;
  std::vector<std::string> order;
  auto recorder = [&](const std::string& name) {
    return [&, name](const Array&, const Object&) {
      std::lock_guard lock(mutex);
      order.push_back(name);
      return Value();
    };
  };
  handoff->declare_actor(make_actor("gate", [&](const Array&, const Object&) {
    gate_started.open();
    gate_release.wait();
    std::lock_guard lock(mutex);
    order.push_back("gate");
    return Value();
  }, "gate_q"));
  handoff->declare_actor(make_actor("low", recorder("low"), "low_q", 10));
  handoff->declare_actor(make_actor("mid", recorder("mid"), "mid_q", 5));
  handoff->declare_actor(make_actor("high_a", recorder("high_a"), "high_a_q", 0));
  handoff->declare_actor(make_actor("high_b", recorder("high_b"), "high_b_q", 0));

  Worker worker(handoff, options(1));
  worker.start();
  handoff->enqueue(make_message("gate", {}, "gate_q"));
  ASSERT_TRUE(gate_started.wait());
  for (const char* name : {"low", "mid", "high_a", "high_b"}) {
    std::string queue = std::string(name) + "_q";
    handoff->enqueue(make_message(name, {}, queue));
    ASSERT_TRUE(handoff->wait_handed_over(queue, 1)) << name;
  }
  gate_release.open();
  for (const char* queue : {"gate_q", "low_q", "mid_q", "high_a_q", "high_b_q"}) {
    ASSERT_TRUE(handoff->join(queue, {.timeout = kLongWait})) << queue;
  }
  worker.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<std::string>{"gate", "high_a", "high_b", "mid", "low"}));
}

TEST_F(EngineWorker, QueuesDeclaredAfterStartAreConsumed) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("first", body, "first_q"));
  Worker worker(broker, options(2));
  worker.start();
  // The worker subscribes to queue declarations, so a late actor's queue
  // gets a consumer without restarting the worker.
  broker->declare_actor(make_actor("late", body, "late_q"));
  broker->enqueue(make_message("late", {1}, "late_q"));
  ASSERT_TRUE(join_queue(*broker, "late_q"));
  worker.stop();
  ASSERT_EQ(body->count(), 1u);
  EXPECT_EQ(body->messages()[0].actor_name, "late");
}

TEST_F(EngineWorker, OnlyConsumesTheQueuesItWasGiven) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("a", body, "qa"));
  broker->declare_actor(make_actor("b", body, "qb"));
  broker->enqueue(make_message("b", {}, "qb"));
  broker->enqueue(make_message("a", {}, "qa"));
  Worker worker(broker, WorkerOptions{std::set<std::string>{"qa"}, 50, 1});
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "qa"));
  worker.stop();
  ASSERT_EQ(body->count(), 1u);
  EXPECT_EQ(body->messages()[0].actor_name, "a");
  // qb had no consumer: its message is still waiting.
  EXPECT_EQ(broker->queue_size("qb"), 1u);
}

// ------------------------------------------------------------------ delays

TEST_F(EngineWorker, DelayedEnqueueGoesToDelayQueueAndRunsAfterEta) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("later", body));

  std::int64_t before = current_millis();
  Message stored = broker->enqueue(make_message("later", {1}), 100);
  std::int64_t after = current_millis();

  // What enqueue stored: a copy bound for "<q>.DQ" carrying its eta.
  EXPECT_EQ(stored.queue_name, "default.DQ");
  const Value* eta = stored.options.find("eta");
  ASSERT_NE(eta, nullptr);
  ASSERT_TRUE(eta->is_int());
  EXPECT_GE(eta->as_int(), before + 100);
  EXPECT_LE(eta->as_int(), after + 100);
  EXPECT_EQ(broker->queue_size("default"), 0u);
  ASSERT_EQ(broker->queue_size("default.DQ"), 1u);
  Message on_wire = JsonEncoder().decode(broker->queue_contents("default.DQ")[0]);
  EXPECT_EQ(on_wire.queue_name, "default.DQ");
  EXPECT_EQ(on_wire.options, stored.options);

  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.join();
  worker.stop();

  ASSERT_EQ(body->count(), 1u);
  Message ran = body->messages()[0];
  // It was moved back to its canonical queue, without the eta, and it did
  // not run before the eta.
  EXPECT_EQ(ran.queue_name, "default");
  EXPECT_FALSE(ran.options.contains("eta"));
  EXPECT_EQ(ran.message_id, stored.message_id);
  EXPECT_GE(body->ran_at()[0], eta->as_int());
}

TEST_F(EngineWorker, DelayOptionDelaysOnceAndIsRemoved) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("later", body));

  std::int64_t before = current_millis();
  Message stored = broker->enqueue(
      make_message("later", {1}, "default", Value(Object{{"delay", 100}, {"keep", "me"}})));
  EXPECT_EQ(stored.queue_name, "default.DQ");
  EXPECT_FALSE(stored.options.contains("delay"));
  ASSERT_TRUE(stored.options.contains("eta"));
  EXPECT_GE(stored.options.find("eta")->as_int(), before + 100);
  EXPECT_EQ(broker->queue_size("default.DQ"), 1u);

  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.join();
  worker.stop();

  // The option was consumed by the first enqueue, so moving the message
  // back from the delay queue (another enqueue) does not delay it again:
  // it runs exactly once, without delay or eta, other options intact.
  ASSERT_EQ(body->count(), 1u);
  Message ran = body->messages()[0];
  EXPECT_FALSE(ran.options.contains("delay"));
  EXPECT_FALSE(ran.options.contains("eta"));
  ASSERT_TRUE(ran.options.contains("keep"));
  EXPECT_EQ(*ran.options.find("keep"), Value("me"));
  EXPECT_GE(body->ran_at()[0], stored.options.find("eta")->as_int());
}

TEST_F(EngineWorker, ExplicitDelayWinsOverDelayOption) {
  broker->declare_actor(make_actor("later", std::make_shared<RecordingBody>()));
  std::int64_t lower = current_millis() + 50;
  Message stored = broker->enqueue(
      make_message("later", {}, "default", Value(Object{{"delay", 3600000}})), 50);
  std::int64_t upper = current_millis() + 50;
  EXPECT_FALSE(stored.options.contains("delay"));
  std::int64_t eta = stored.options.find("eta")->as_int();
  EXPECT_GE(eta, lower);
  EXPECT_LE(eta, upper);
}

// Holds the ack of a message moved off a delay queue until `release` opens.
class HeldDelayAck : public Middleware {
 public:
  std::string name() const override { return "HeldDelayAck"; }
  void after_ack(Broker&, MessageProxy& message) override {
    if (message.message.queue_name != "default.DQ") return;
    entered.open();
    release.wait();
    done = true;
  }
  Latch entered, release;
  std::atomic<bool> done{false};
};

TEST_F(EngineWorker, WorkerJoinWaitsForTheAckOfAMovedDelayedMessage) {
  // The consumer thread moves a due message to its queue, then acks it on
  // the delay queue; the moved copy can run to completion before that ack's
  // hooks do. join() must still wait for them.
  auto held = std::make_shared<HeldDelayAck>();
  broker->add_middleware(held);
  Latch ran;
  broker->declare_actor(make_actor("later", [&](const Array&, const Object&) {
    ran.open();
    return Value();
  }));
  broker->enqueue(make_message("later", {}), 1);
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(held->entered.wait());
  ASSERT_TRUE(ran.wait());
  std::atomic<bool> done_at_join{false};
  Latch joined;
  std::thread joiner([&] {
    worker.join();
    done_at_join = held->done.load();
    joined.open();
  });
  // Without the wait in join() the joiner returns now; give it the chance.
  joined.wait(200ms);
  held->release.open();
  joiner.join();
  worker.stop();
  EXPECT_TRUE(done_at_join);
}

TEST_F(EngineWorker, WorkerJoinWaitsForHeldDelayedMessages) {
  // Once a delay-queue consumer holds a message until its eta, Worker::join
  // must not return while it is held, i.e. not before its eta. (After the
  // message moves back to its queue, Worker::join only covers it once this
  // worker fetched it again, like upstream; StubBroker::join covers that.)
  auto handoff = std::make_shared<HandoffBroker>();
  auto body = std::make_shared<RecordingBody>();
  handoff->declare_actor(make_actor("later", body));
  Worker worker(handoff, options(1));
  worker.start();
  Message stored = handoff->enqueue(make_message("later", {}), 150);
  ASSERT_TRUE(handoff->wait_handed_over("default.DQ", 1));
  worker.join();
  EXPECT_GE(current_millis(), stored.options.find("eta")->as_int());
  ASSERT_TRUE(handoff->join("default", {.timeout = kLongWait}));
  worker.stop();
  EXPECT_EQ(body->count(), 1u);
}

// ------------------------------------------------------- failures and DLQ

TEST_F(EngineWorker, FailingActorIsDeadLetteredAndWorkerContinues) {
  broker->add_middleware(std::make_shared<Retries>(Value(0)));
  auto ok = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("boom", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("kaboom");
  }));
  broker->declare_actor(make_actor("ok", ok));

  Message failing = broker->enqueue(make_message("boom", {7}));
  for (int i = 0; i < 3; ++i) broker->enqueue(make_message("ok", {i}));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();

  EXPECT_EQ(ok->count(), 3u);  // later messages still ran
  auto letters = broker->dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].queue_name, "default");
  const MessageProxy& dead = *letters[0].message;
  EXPECT_EQ(dead.message.message_id, failing.message_id);
  EXPECT_EQ(dead.message.actor_name, "boom");
  EXPECT_TRUE(dead.failed);
  ASSERT_TRUE(dead.failure.has_value());
  EXPECT_EQ(dead.failure->message, "kaboom");
  EXPECT_FALSE(dead.failure->type_name.empty());
  // Retries counted the attempt before deciding it was the last.
  EXPECT_EQ(dead.message.options.get_int("retries", -1), 1);

  auto errors = logs.matching(log::Level::Error, "Failed to process message boom(7)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].logger, "dramatiq.worker.WorkerThread");
  ASSERT_TRUE(errors[0].failure.has_value());
  EXPECT_EQ(errors[0].failure->message, "kaboom");
}

TEST_F(EngineWorker, FailureWithoutRetriesIsAcked) {
  // Only middleware fails a message; without Retries an actor error is
  // logged and the message acked, as upstream does.
  broker->declare_actor(make_actor("boom", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("kaboom");
  }));
  broker->enqueue(make_message("boom", {}));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  EXPECT_TRUE(broker->dead_letters().empty());
  EXPECT_EQ(logs.matching(log::Level::Error, "Failed to process message boom()").size(), 1u);
}

TEST_F(EngineWorker, UndecodableAndUnknownActorMessagesAreDeadLettered) {
  auto ok = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("ok", ok));
  broker->put_raw("default", "not json at all");
  Message ghost = broker->enqueue(make_message("ghost", {1}));
  broker->enqueue(make_message("ok", {2}));

  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();

  EXPECT_EQ(ok->count(), 1u);  // the worker kept going
  auto letters = broker->dead_letters();
  ASSERT_EQ(letters.size(), 2u);
  const MessageProxy* undecodable = nullptr;
  const MessageProxy* unknown = nullptr;
  for (auto& letter : letters) {
    EXPECT_EQ(letter.queue_name, "default");
    (letter.message->decode_error ? undecodable : unknown) = letter.message.get();
  }
  ASSERT_NE(undecodable, nullptr);
  ASSERT_NE(unknown, nullptr);

  EXPECT_EQ(undecodable->raw, "not json at all");
  EXPECT_EQ(undecodable->message.queue_name, "default");
  EXPECT_TRUE(undecodable->failed);
  ASSERT_TRUE(undecodable->failure.has_value());
  EXPECT_EQ(undecodable->failure->type_name, "DecodeError");

  EXPECT_EQ(unknown->message.message_id, ghost.message_id);
  EXPECT_EQ(unknown->message.actor_name, "ghost");
  EXPECT_TRUE(unknown->failed);
  ASSERT_TRUE(unknown->failure.has_value());
  EXPECT_EQ(unknown->failure->type_name, "ActorNotFound");
  EXPECT_EQ(unknown->failure->message, "ghost");

  EXPECT_EQ(
      logs.matching(log::Level::Error, "Received an undecodable message on queue 'default'").size(),
      1u);
  EXPECT_EQ(logs.matching(log::Level::Error, "undefined actor 'ghost'").size(), 1u);
}

// ------------------------------------------------------------- stop / pause

TEST_F(EngineWorker, StopRequeuesPrefetchedButUnstartedMessages) {
  // Deterministic set-up: two worker threads, one of them stuck in a slow
  // actor. The idle one exits as soon as stop() has cleared the running
  // flag, which the ShutdownWatcher sees; only then does the slow actor
  // enqueue more work and wait until the consumer has handed it to the
  // work queue. The busy thread must then exit without starting it, and
  // stop() must put it back on the broker in its original order.
  auto handoff = std::make_shared<HandoffBroker>();
  auto watcher = std::make_shared<ShutdownWatcher>();
  handoff->add_middleware(watcher);
  auto later = std::make_shared<RecordingBody>();
  handoff->declare_actor(make_actor("later", later));
  std::vector<std::string> later_ids;
  std::atomic<bool> handed_over{false};
  Latch slow_started;
  handoff->declare_actor(make_actor("slow", [&](const Array&, const Object&) {
    slow_started.open();
    if (!watcher->worker_thread_down.wait()) return Value();
    for (int i = 0; i < 5; ++i) {
      later_ids.push_back(handoff->enqueue(make_message("later", {i})).message_id);
    }
    // Prefetch is 2 per worker thread: four fit the window, so at least
    // three are provably handed over (the fourth is handed over before the
    // consumer thread exits) and the fifth stays on the queue.
    handed_over = handoff->wait_handed_over("default", 3);
    return Value();
  }, "slow_q"));

  Worker worker(handoff, options(2));
  worker.start();
  handoff->enqueue(make_message("slow", {}, "slow_q"));
  ASSERT_TRUE(slow_started.wait());
  worker.stop();

  ASSERT_TRUE(handed_over);
  EXPECT_EQ(later->count(), 0u) << "a message was started after stop() began";
  ASSERT_EQ(later_ids.size(), 5u);
  std::vector<std::string> queued_ids;
  for (auto& raw : handoff->queue_contents("default")) queued_ids.push_back(id_of_raw(raw));
  // All five are back (or still) on the queue, in enqueue order.
  EXPECT_EQ(handoff->queue_size("default"), 5u);
  EXPECT_EQ(queued_ids, later_ids);
  EXPECT_TRUE(handoff->dead_letters().empty());
}

TEST_F(EngineWorker, RequeuedMessagesRunOnTheNextWorker) {
  // Messages requeued by one worker's stop() are delivered by the next.
  auto handoff = std::make_shared<HandoffBroker>();
  auto watcher = std::make_shared<ShutdownWatcher>();
  handoff->add_middleware(watcher);
  auto later = std::make_shared<RecordingBody>();
  handoff->declare_actor(make_actor("later", later));
  Latch slow_started;
  handoff->declare_actor(make_actor("slow", [&](const Array&, const Object&) {
    slow_started.open();
    if (watcher->worker_thread_down.wait()) {
      for (int i = 0; i < 3; ++i) handoff->enqueue(make_message("later", {i}));
      handoff->wait_handed_over("default", 2);
    }
    return Value();
  }, "slow_q"));
  {
    Worker first(handoff, options(2));
    first.start();
    handoff->enqueue(make_message("slow", {}, "slow_q"));
    ASSERT_TRUE(slow_started.wait());
    first.stop();
  }
  ASSERT_EQ(later->count(), 0u);
  Worker second(handoff, options(1));
  second.start();
  ASSERT_TRUE(handoff->join("default", {.timeout = kLongWait}));
  second.stop();
  ASSERT_EQ(later->count(), 3u);
  std::vector<std::int64_t> args;
  for (auto& m : later->messages()) args.push_back(m.args.as_array().at(0).as_int());
  EXPECT_EQ(args, (std::vector<std::int64_t>{0, 1, 2}));
}

TEST_F(EngineWorker, StopRequeuesHeldDelayedMessages) {
  // A delayed message held in memory by a delay-queue consumer goes back
  // to the delay queue when the worker stops.
  auto handoff = std::make_shared<HandoffBroker>();
  auto body = std::make_shared<RecordingBody>();
  handoff->declare_actor(make_actor("later", body));
  Worker worker(handoff, options(1));
  worker.start();
  Message stored = handoff->enqueue(make_message("later", {}), 3600000);
  ASSERT_TRUE(handoff->wait_handed_over("default.DQ", 1));
  EXPECT_EQ(handoff->queue_size("default.DQ"), 0u);  // held by the consumer
  worker.stop();
  EXPECT_EQ(body->count(), 0u);
  ASSERT_EQ(handoff->queue_size("default.DQ"), 1u);
  Message back = JsonEncoder().decode(handoff->queue_contents("default.DQ")[0]);
  EXPECT_EQ(back.message_id, stored.message_id);
  EXPECT_EQ(back.options.find("eta")->as_int(), stored.options.find("eta")->as_int());
}

// Pausing takes a few seconds: as upstream does, a consumer leaves its
// fetch loop when paused and only acknowledges the pause after the consumer
// restart delay (3 s). One pause per test keeps the binary quick.
TEST_F(EngineWorker, PauseStopsFetchingAndResumeContinues) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("f", body));
  Worker worker(broker, options(2));
  worker.start();
  worker.pause();
  for (int i = 0; i < 3; ++i) broker->enqueue(make_message("f", {i}));
  // pause() returned only once every consumer stopped fetching, so nothing
  // may be taken off the queue however long we look (the sleep can only
  // make this check weaker, never flaky).
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(body->count(), 0u);
  EXPECT_EQ(broker->queue_size("default"), 3u);

  worker.resume();
  ASSERT_TRUE(join_queue(*broker, "default"));
  worker.stop();
  EXPECT_EQ(body->count(), 3u);
}

TEST_F(EngineWorker, StopWhilePausedLeavesQueuedMessages) {
  auto body = std::make_shared<RecordingBody>();
  broker->declare_actor(make_actor("f", body));
  Worker worker(broker, options(2));
  worker.start();
  worker.pause();
  broker->enqueue(make_message("f", {}));
  worker.stop();  // must not hang on paused threads
  EXPECT_EQ(body->count(), 0u);
  EXPECT_EQ(broker->queue_size("default"), 1u);
}

// Engine bug (disabled until fixed): worker.hpp documents stop(timeout) as
// "In-flight work finishes (up to timeout)", like upstream's
// Worker.stop(timeout), but Worker::Impl::stop (src/worker/worker.cpp)
// computes the deadline and discards it ("(void)deadline") and joins every
// worker thread unconditionally, so stop() blocks for as long as any actor
// runs. Enabled, this test fails after ~5 s instead of hanging.
TEST_F(EngineWorker, StopTimeoutBoundsTheWaitForInFlightWork) {
  Latch started, release;
  broker->declare_actor(make_actor("stuck", [&](const Array&, const Object&) {
    started.open();
    release.wait();  // bounded by kLongWait, so the test cannot hang
    return Value();
  }));
  broker->enqueue(make_message("stuck", {}));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(started.wait());
  Latch stop_returned;
  std::thread stopper([&] {
    worker.stop(200ms);
    stop_returned.open();
  });
  // The actor is still blocked: stop() should give up on it after 200 ms.
  bool returned_while_running = stop_returned.wait(5000ms);
  release.open();
  stopper.join();
  EXPECT_TRUE(returned_while_running) << "stop(200ms) waited for the running actor";
  // The actor finished after stop() returned: its message is still acked.
  EXPECT_TRUE(broker->join("default", {.timeout = kLongWait}));
}

TEST_F(EngineWorker, StopEndsItsWaitWhenKeepWaitingSaysNo) {
  // How Ctrl-C cuts a Python Worker.stop() short: the caller's check
  // answers false, stop() goes on as if its timeout had passed.
  Latch started, release;
  broker->declare_actor(make_actor("stuck", [&](const Array&, const Object&) {
    started.open();
    release.wait(2 * kLongWait);  // outlasts the test's wait for stop()
    return Value();
  }));
  broker->enqueue(make_message("stuck", {}));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(started.wait());
  std::atomic<int> checks{0};
  Latch stop_returned;
  std::thread stopper([&] {
    worker.stop(Worker::kDefaultStopTimeout, [&] {
      checks += 1;
      return false;
    }, 10ms);
    stop_returned.open();
  });
  bool returned_while_running = stop_returned.wait(kLongWait);
  release.open();
  stopper.join();
  EXPECT_TRUE(returned_while_running) << "stop() waited for the actor although told not to";
  EXPECT_EQ(checks.load(), 1);
  // The actor finished after stop() returned: its message is still acked.
  EXPECT_TRUE(broker->join("default", {.timeout = kLongWait}));
}

TEST_F(EngineWorker, InterruptedStubFetchReturnsWithoutWaitingOutItsTimeout) {
  // What lets a stop (a Ctrl-C'd one too) skip the fetch timeout.
  broker->declare_queue("default");
  auto consumer = broker->consume("default", 1);
  Latch returned;
  std::thread fetcher([&] {
    EXPECT_EQ(consumer->next(2 * kLongWait), nullptr);
    returned.open();
  });
  consumer->interrupt_wait();  // before or during its wait: either way it ends
  EXPECT_TRUE(returned.wait(kLongWait)) << "next() waited out its timeout";
  fetcher.join();
  // Only that wait ended: the next one gets the next message.
  broker->put_raw("default", "not even JSON");
  EXPECT_NE(consumer->next(kLongWait), nullptr);
}

TEST_F(EngineWorker, StopAsksKeepWaitingOnlyWhileWorkIsInFlight) {
  Worker worker(broker, options(2));
  worker.start();
  int checks = 0;
  worker.stop(Worker::kDefaultStopTimeout, [&] {
    checks += 1;
    return true;
  }, 10ms);
  EXPECT_EQ(checks, 0);  // nothing ran: nothing to wait for
}

TEST_F(EngineWorker, JoinForBoundsTheWait) {
  Latch started, release;
  broker->declare_actor(make_actor("stuck", [&](const Array&, const Object&) {
    started.open();
    release.wait();
    return Value();
  }));
  broker->enqueue(make_message("stuck", {}));
  Worker worker(broker, options(1));
  worker.start();
  ASSERT_TRUE(started.wait());
  EXPECT_FALSE(worker.join_for(20ms));
  release.open();
  EXPECT_TRUE(worker.join_for(kLongWait));
  worker.stop();
}

TEST_F(EngineWorker, WorkerThreadsReportsItsSize) {
  Worker worker(broker, options(3));
  EXPECT_EQ(worker.worker_threads(), 3);
  Worker clamped(broker, options(0));
  EXPECT_EQ(clamped.worker_threads(), 1);  // at least one thread
  EXPECT_EQ(&worker.broker(), broker.get());
}

// ------------------------------------------------------ consumer ownership

TEST_F(EngineWorker, PauseResumeSettlesEachMessageThroughItsConsumer) {
  expect_settled_through_delivering_consumer(std::make_shared<HandoffBroker>(),
                                             Interruption::PauseResume);
}

TEST_F(EngineWorker, ConsumerRestartSettlesEachMessageThroughItsConsumer) {
  expect_settled_through_delivering_consumer(std::make_shared<HandoffBroker>(),
                                             Interruption::ConsumerRestart);
  EXPECT_EQ(logs.matching(log::Level::Critical, "consumer failure forced by the test").size(), 1u);
  EXPECT_EQ(logs.matching(log::Level::Info, "Restarting consumer in 0.01 seconds.").size(), 1u);
}
