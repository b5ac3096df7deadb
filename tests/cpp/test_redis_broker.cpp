// The RedisBroker through the engine's C++ API, against a real redis-server:
// the key layout upstream Dramatiq shares, delivery through a Worker,
// dead letters, requeue on stop, recovery of a dead worker's messages and
// connection errors.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/worker.hpp"
#include "redis_server.hpp"
#include "interrupt_wait_scenario.hpp"
#include "cancellation_scenario.hpp"
#include "dead_letter_scenario.hpp"
#include "message_listing_scenario.hpp"
#include "queue_counts_scenario.hpp"
#include "worker_record_scenario.hpp"
#include "settlement_scenario.hpp"
#include "tracking_broker.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<RedisBroker> make_broker(const RedisServer& server,
                                         std::int64_t heartbeat_timeout_ms = 60000,
                                         int maintenance_chance = 1000) {
  RedisBrokerOptions options;
  options.connection = RedisConnectionOptions::from_url(server.url());
  options.heartbeat_timeout_ms = heartbeat_timeout_ms;
  options.maintenance_chance = maintenance_chance;
  return std::make_shared<RedisBroker>(std::move(options));
}

// The set of ids `broker` took from the default queue and has not settled.
std::string ack_set_of(const std::shared_ptr<RedisBroker>& broker) {
  return "dramatiq:__acks__." + broker->broker_id() + ".default";
}

WorkerOptions worker_options(int threads) { return WorkerOptions{std::nullopt, 50, threads}; }

// Polls until `condition` holds; false after kLongWait (a hang, not a timing).
template <typename Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

}  // namespace

TEST(RedisBroker, EnqueueStoresUpstreamKeyLayout) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_actor(make_actor("add", [](const Array&, const Object&) { return Value(); }));
  Message stored = broker->enqueue(make_message("add", {Value(1), Value(2)}));

  const Value* redis_id = stored.options.find("redis_message_id");
  ASSERT_NE(redis_id, nullptr);
  auto ids = server.call({"LRANGE", "dramatiq:default", "0", "-1"});
  ASSERT_EQ(ids.elements.size(), 1u);
  EXPECT_EQ(ids.elements[0].str, redis_id->as_string());
  auto data = server.call({"HGET", "dramatiq:default.msgs", redis_id->as_string()});
  EXPECT_EQ(data.str, get_encoder()->encode(stored));
  Message decoded = get_encoder()->decode(data.str);
  EXPECT_EQ(decoded.message_id, stored.message_id);
}

// Enqueueing is a MULTI/EXEC transaction: an error from a command inside it
// (not only from MULTI or EXEC) must reach the caller.
TEST(RedisBroker, EnqueueOntoAKeyOfTheWrongTypeRaises) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  server.call({"SET", "dramatiq:default", "not a list"});
  try {
    broker->enqueue(make_message("anything", {}));
    FAIL() << "enqueue succeeded";
  } catch (const BrokerError& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos) << e.what();
  }
  EXPECT_THROW(broker->enqueue_all({make_message("anything", {}), make_message("anything", {})}),
               BrokerError);
}

TEST(RedisBroker, DelayedMessageGoesToDelayQueueWithEta) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_actor(make_actor("add", [](const Array&, const Object&) { return Value(); }));
  std::int64_t before = current_millis();
  Message stored = broker->enqueue(make_message("add", {}), 60000);
  EXPECT_EQ(stored.queue_name, "default.DQ");
  EXPECT_GE(stored.options.find("eta")->as_number(), static_cast<double>(before + 60000));
  EXPECT_EQ(server.call({"LLEN", "dramatiq:default.DQ"}).integer, 1);
  EXPECT_EQ(server.call({"LLEN", "dramatiq:default"}).integer, 0);
}

// A due message leaves the delay queue in the same write that puts it on
// its queue: while it runs, no copy is left on the delay queue (nor in this
// worker's delay-queue ack set) for join or a crash to see twice.
TEST(RedisBroker, DueDelayedMessageRunsWithNoCopyLeftOnTheDelayQueue) {
  RedisServer server;
  auto broker = make_broker(server);
  std::atomic<long long> delay_copies{-1};
  std::string delay_acks = "dramatiq:__acks__." + broker->broker_id() + ".default.DQ";
  broker->declare_actor(make_actor("probe", [&](const Array&, const Object&) {
    delay_copies = server.call({"HLEN", "dramatiq:default.DQ.msgs"}).integer +
                   server.call({"SCARD", delay_acks}).integer;
    return Value();
  }));
  broker->enqueue(make_message("probe", {}), 50);
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(delay_copies.load(), 0);
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.msgs"}).integer, 0);
}

TEST(RedisBroker, DelayQueueConsumerMovesAMessageAndAcksItsCopyInOneStep) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  broker->enqueue(make_message("anything", {}), 1);
  auto consumer = broker->consume("default.DQ", 1);
  ASSERT_TRUE(consumer->enqueues_and_acks());
  auto delayed = consumer->next(kLongWait);
  ASSERT_NE(delayed, nullptr);
  Message ready = delayed->message;
  ready.queue_name = "default";
  ready.options.erase("eta");
  ready.options.set("redis_message_id", "moved-id");
  consumer->enqueue_and_ack(ready, *delayed);

  EXPECT_EQ(server.call({"LRANGE", "dramatiq:default", "0", "-1"}).elements.at(0).str, "moved-id");
  Message stored = get_encoder()->decode(server.call({"HGET", "dramatiq:default.msgs", "moved-id"}).str);
  EXPECT_EQ(stored.message_id, delayed->message.message_id);
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.DQ.msgs"}).integer, 0);
  EXPECT_EQ(server.call({"EXISTS", ack_set_of(broker) + ".DQ"}).integer, 0);
  consumer->close();
  EXPECT_EQ(server.call({"LLEN", "dramatiq:default.DQ"}).integer, 0);
}

TEST(RedisBroker, DelayedMessageHandedToAnotherWorkerIsNotMovedByTheFirst) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  broker->enqueue(make_message("anything", {}), 1);
  auto consumer = broker->consume("default.DQ", 1);
  auto delayed = consumer->next(kLongWait);
  ASSERT_NE(delayed, nullptr);
  std::string other_acks = "dramatiq:__acks__.other-worker.default.DQ";
  server.call({"SMOVE", ack_set_of(broker) + ".DQ", other_acks, delayed->receipt});
  Message ready = delayed->message;
  ready.queue_name = "default";
  ready.options.erase("eta");
  consumer->enqueue_and_ack(ready, *delayed);

  EXPECT_EQ(server.call({"LLEN", "dramatiq:default"}).integer, 0);
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.msgs"}).integer, 0);
  EXPECT_EQ(server.call({"HEXISTS", "dramatiq:default.DQ.msgs", delayed->receipt}).integer, 1);
  EXPECT_EQ(server.call({"SISMEMBER", other_acks, delayed->receipt}).integer, 1);
  consumer->close();
}

TEST(RedisBroker, WorkerProcessesAndAcksEveryMessage) {
  RedisServer server;
  auto broker = make_broker(server);
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }));
  std::vector<Message> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(make_message("record", {Value(i)}));
  broker->enqueue_all(std::move(batch));
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.msgs"}).integer, 200);

  Worker worker(broker, worker_options(4));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 200u);
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.msgs"}).integer, 0);
  EXPECT_EQ(server.call({"EXISTS", ack_set_of(broker)}).integer, 0);
}

TEST(RedisBroker, WorkerRunsOneFetchedBatchInParallel) {
  // A fetch delivers several messages at once and wakes one worker thread;
  // while its actor is busy the other threads must take the rest.
  RedisServer server;
  auto broker = make_broker(server);
  Rendezvous all_running(4, 5000ms);
  std::atomic<int> met{0};
  broker->declare_actor(make_actor("meet", [&](const Array&, const Object&) {
    if (all_running.arrive_and_wait()) met += 1;
    return Value();
  }));
  std::vector<Message> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(make_message("meet", {Value(i)}));
  broker->enqueue_all(std::move(batch));
  Worker worker(broker, WorkerOptions{std::nullopt, 6000, 4});
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(met.load(), 4) << "the four actors never ran at the same time";
}

TEST(RedisBroker, MessageOutOfRetriesIsDeadLettered) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->add_middleware(std::make_shared<Retries>(Value(std::int64_t{0})));
  broker->declare_actor(make_actor("boom", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("boom");
  }));
  LogCapture logs;
  Message stored = broker->enqueue(make_message("boom", {}));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  std::string id = stored.options.find("redis_message_id")->as_string();
  EXPECT_EQ(server.call({"ZSCORE", "dramatiq:default.XQ", id}).type, redis::Reply::Type::String);
  EXPECT_EQ(server.call({"HEXISTS", "dramatiq:default.XQ.msgs", id}).integer, 1);
}

TEST(RedisBroker, GarbageInQueueIsDeadLetteredAndOthersRun) {
  RedisServer server;
  auto broker = make_broker(server);
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }));
  LogCapture logs;
  server.call({"HSET", "dramatiq:default.msgs", "junk", "\xff not json"});
  server.call({"RPUSH", "dramatiq:default", "junk"});
  broker->enqueue(make_message("record", {Value(1)}));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 1u);
  EXPECT_EQ(server.call({"HGET", "dramatiq:default.XQ.msgs", "junk"}).str, "\xff not json");
  EXPECT_FALSE(logs.matching(log::Level::Error, "undecodable").empty());
}

TEST(RedisBroker, StopRequeuesPrefetchedMessages) {
  RedisServer server;
  auto broker = make_broker(server);
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  broker->declare_actor(make_actor("slow", [&](const Array&, const Object&) {
    started += 1;
    while (!release) std::this_thread::sleep_for(1ms);
    return Value();
  }));
  for (int i = 0; i < 10; ++i) broker->enqueue(make_message("slow", {}));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(eventually([&] { return started == 1; }));
  // One message runs; the rest of the prefetch window waits in the worker.
  std::thread stopper([&] { worker.stop(kLongWait); });
  std::this_thread::sleep_for(50ms);
  release = true;
  stopper.join();
  EXPECT_EQ(started, 1);
  // Everything not processed is back on the queue, nothing in an ack set.
  EXPECT_EQ(server.call({"LLEN", "dramatiq:default"}).integer, 9);
  EXPECT_EQ(server.call({"HLEN", "dramatiq:default.msgs"}).integer, 9);
  EXPECT_EQ(server.call({"EXISTS", ack_set_of(broker)}).integer, 0);
}

TEST(RedisBroker, MaintenanceReturnsADeadWorkersMessages) {
  RedisServer server;
  auto producer = make_broker(server);
  producer->declare_queue("default");
  for (int i = 0; i < 3; ++i) producer->enqueue(make_message("anything", {}));
  // A worker that took the messages and died: its ack set holds them and
  // its heartbeat is long past.
  auto ids = server.call({"LRANGE", "dramatiq:default", "0", "-1"});
  server.call({"DEL", "dramatiq:default"});
  for (auto& id : ids.elements) server.call({"SADD", "dramatiq:__acks__.dead-worker.default", id.str});
  server.call({"ZADD", "dramatiq:__heartbeats__", "1", "dead-worker"});

  // A live worker's fetch runs maintenance (here on every one), which puts
  // them back on the queue before the fetch takes one.
  auto survivor = make_broker(server, 1000, 1000000);
  auto consumer = survivor->consume("default", 1);
  ASSERT_NE(consumer->next(kLongWait), nullptr);
  EXPECT_EQ(server.call({"LLEN", "dramatiq:default"}).integer, 2);
  EXPECT_EQ(server.call({"SCARD", ack_set_of(survivor)}).integer, 1);
  EXPECT_EQ(server.call({"EXISTS", "dramatiq:__acks__.dead-worker.default"}).integer, 0);
  EXPECT_EQ(server.call({"ZSCORE", "dramatiq:__heartbeats__", "dead-worker"}).type,
            redis::Reply::Type::Nil);
}

// A worker that looked dead (no heartbeat) had its messages handed to
// another one by maintenance; when it settles them late, only those it still
// holds are settled. Acks and nacks go to Redis in one batch, so holding
// and handed-over ids are mixed here.
TEST(RedisBroker, LateSettlementLeavesMessagesHandedToAnotherWorkerAlone) {
  RedisServer server;
  auto slow = make_broker(server);
  slow->declare_queue("default");
  for (int i = 0; i < 4; ++i) slow->enqueue(make_message("anything", {}));
  auto consumer = slow->consume("default", 4);
  std::vector<std::shared_ptr<MessageProxy>> taken;
  while (taken.size() < 4) {
    auto message = consumer->next(kLongWait);
    ASSERT_NE(message, nullptr);
    taken.push_back(message);
  }
  const auto& acked_held = taken[0];
  const auto& acked_handed = taken[1];
  const auto& nacked_handed = taken[2];
  const auto& nacked_held = taken[3];
  std::string slow_acks = ack_set_of(slow);
  std::string other_acks = "dramatiq:__acks__.other-worker.default";
  server.call({"SMOVE", slow_acks, other_acks, acked_handed->receipt});
  server.call({"SMOVE", slow_acks, other_acks, nacked_handed->receipt});

  consumer->ack(*acked_held);
  consumer->ack(*acked_handed);
  nacked_handed->fail();
  consumer->nack(*nacked_handed);
  nacked_held->fail();
  consumer->nack(*nacked_held);
  consumer->close();  // sends what is left to settle

  auto stored = [&](const std::shared_ptr<MessageProxy>& m) {
    return server.call({"HEXISTS", "dramatiq:default.msgs", m->receipt}).integer == 1;
  };
  auto dead = [&](const std::shared_ptr<MessageProxy>& m) {
    return server.call({"HEXISTS", "dramatiq:default.XQ.msgs", m->receipt}).integer == 1;
  };
  EXPECT_FALSE(stored(acked_held));
  EXPECT_FALSE(dead(acked_held));
  EXPECT_TRUE(stored(acked_handed));
  EXPECT_TRUE(stored(nacked_handed));
  EXPECT_FALSE(dead(nacked_handed));
  EXPECT_FALSE(stored(nacked_held));
  EXPECT_TRUE(dead(nacked_held));
  EXPECT_EQ(server.call({"SCARD", other_acks}).integer, 2);
  EXPECT_EQ(server.call({"EXISTS", slow_acks}).integer, 0);
}

TEST(RedisBroker, ReconnectingConsumerReturnsIdsWhoseFetchReplyWasLost) {
  RedisServer server;
  auto broker = make_broker(server);
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }));
  LogCapture logs;
  Worker worker(broker, worker_options(1));
  worker.start();
  // What a fetch leaves behind when the server runs it but the reply never
  // arrives: the id in this broker's ack set, its message still stored.
  Message lost = make_message("record", {Value("lost")});
  server.call({"HSET", "dramatiq:default.msgs", "lost-id", get_encoder()->encode(lost)});
  server.call({"SADD", ack_set_of(broker), "lost-id"});
  // Break the consumer's connections once it has them (its first fetch may
  // come after start() returns); it reconnects and looks for strays.
  ASSERT_TRUE(eventually([&] {
    auto subscribers = server.call({"PUBSUB", "NUMSUB", "dramatiq:__wakeup__.default"});
    return subscribers.elements.size() == 2 && subscribers.elements[1].integer >= 1;
  }));
  server.call({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(eventually([&] { return calls.count() == 1; }));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.messages()[0].args.as_array().at(0).as_string(), "lost");
  EXPECT_FALSE(logs.matching(log::Level::Warning, "never delivered").empty());
}

TEST(RedisBroker, FlushDropsQueueDelayQueueAndDeadLetters) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  broker->enqueue(make_message("a", {}));
  broker->enqueue(make_message("a", {}), 60000);
  server.call({"ZADD", "dramatiq:default.XQ", "1", "x"});
  server.call({"HSET", "dramatiq:default.XQ.msgs", "x", "{}"});
  broker->flush("default");
  for (const char* key : {"dramatiq:default", "dramatiq:default.msgs", "dramatiq:default.DQ",
                          "dramatiq:default.DQ.msgs", "dramatiq:default.XQ", "dramatiq:default.XQ.msgs"}) {
    EXPECT_EQ(server.call({"EXISTS", key}).integer, 0) << key;
  }
}

TEST(RedisBroker, JoinTimesOutWhileMessagesWait) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  broker->enqueue(make_message("a", {}));
  EXPECT_FALSE(broker->join("default", {.timeout = 50ms, .poll_interval = 10ms}));
  broker->flush("default");
  EXPECT_TRUE(broker->join("default", {.timeout = 50ms, .poll_interval = 10ms}));
}

TEST(RedisBroker, SendToStoppedServerRaisesConnectionError) {
  auto server = std::make_unique<RedisServer>();
  auto broker = make_broker(*server);
  broker->declare_queue("default");
  broker->enqueue(make_message("a", {}));
  server.reset();
  EXPECT_THROW(broker->enqueue(make_message("a", {})), BrokerConnectionError);
}

TEST(RedisBroker, WrongPasswordIsAClearConnectionFailure) {
  RedisServer server;
  server.call({"CONFIG", "SET", "requirepass", "right"});
  RedisBrokerOptions options;
  options.connection = RedisConnectionOptions::from_url(
      "redis://:wrong@127.0.0.1:" + std::to_string(server.port()) + "/0");
  RedisBroker broker(options);
  broker.declare_queue("default");
  try {
    broker.enqueue(make_message("a", {}));
    FAIL() << "expected ConnectionFailed";
  } catch (const ConnectionFailed& e) {
    EXPECT_NE(std::string(e.what()).find("Authentication"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------ consumer ownership

namespace {
std::shared_ptr<TrackingBroker<RedisBroker>> make_tracking_broker(const RedisServer& server) {
  RedisBrokerOptions options;
  options.connection = RedisConnectionOptions::from_url(server.url());
  return std::make_shared<TrackingBroker<RedisBroker>>(std::move(options));
}

// After the interruption the consumer in use must still hold at most its
// prefetch window: ten messages land at once while an actor blocks, and the
// worker's ack set on the server (fetched, not yet acked) stops at four.
void expect_prefetch_window_intact(const RedisServer& server,
                                   const std::shared_ptr<TrackingBroker<RedisBroker>>& broker) {
  Latch running, gate;
  broker->declare_actor(make_actor("blocker", [&](const Array&, const Object&) {
    running.open();
    gate.wait();
    return Value();
  }));
  broker->enqueue(make_message("blocker", {}));
  ASSERT_TRUE(running.wait());
  std::vector<Message> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(make_message("blocker", {Value(i)}));
  broker->enqueue_all(std::move(batch));
  std::string acks = "dramatiq:__acks__." + broker->broker_id() + ".default";
  // One fetch takes what the window allows, atomically on the server.
  ASSERT_TRUE(eventually([&] { return server.call({"SCARD", acks}).integer >= 4; }));
  EXPECT_EQ(server.call({"SCARD", acks}).integer, 4);
  gate.open();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  EXPECT_EQ(server.call({"SCARD", acks}).integer, 0);
}
}  // namespace

TEST(RedisBroker, PauseResumeSettlesEachMessageThroughItsConsumer) {
  RedisServer server;
  auto broker = make_tracking_broker(server);
  expect_settled_through_delivering_consumer(broker, Interruption::PauseResume,
                                             [&] { expect_prefetch_window_intact(server, broker); });
}

TEST(RedisBroker, ConsumerRestartSettlesEachMessageThroughItsConsumer) {
  RedisServer server;
  auto broker = make_tracking_broker(server);
  expect_settled_through_delivering_consumer(broker, Interruption::ConsumerRestart,
                                             [&] { expect_prefetch_window_intact(server, broker); });
}

// A stopping worker interrupts its consumers' waits for a wake-up signal
// instead of waiting out the fetch timeout.
TEST(RedisBroker, InterruptWaitEndsAnIdleConsumersWait) {
  RedisServer server;
  auto broker = make_broker(server);
  broker->declare_queue("default");
  auto consumer = broker->consume("default", 1);
  expect_interrupt_wait_ends_an_idle_wait(*consumer);
  // The interruption is spent: a message sent now is still delivered.
  broker->declare_actor(make_actor("add", [](const Array&, const Object&) { return Value(); }));
  broker->enqueue(make_message("add", {}));
  EXPECT_NE(consumer->next(kLongWait), nullptr);
  consumer->close();
}

// ---- queue counts (tests/cpp/queue_counts_scenario.hpp)

TEST(RedisBroker, CountsAQueuesMessagesByState) {
  RedisServer server;
  expect_queue_counts_by_state([&] { return make_broker(server); }, /*sees_in_flight=*/true);
}

// ---- waiting messages (tests/cpp/message_listing_scenario.hpp)

TEST(RedisBroker, WaitingMessagesAreListedFromAnotherBroker) {
  RedisServer server;
  expect_waiting_messages_listed([&] { return make_broker(server); });
}

// ---- worker records (tests/cpp/worker_record_scenario.hpp)

TEST(RedisBroker, WorkerRecordsFollowTheWorker) {
  RedisServer server;
  expect_worker_records_follow_the_worker([&] { return make_broker(server); });
}

TEST(RedisBroker, ExpiredWorkerRecordsAreNotListed) {
  RedisServer server;
  expect_expired_worker_records_not_listed([&] { return make_broker(server); });
  EXPECT_EQ(server.call({"HLEN", "dramatiq:__worker_records__"}).integer, 0);  // dropped when listed
}

// ---- dead letters (tests/cpp/dead_letter_scenario.hpp)

TEST(RedisBroker, DeadLettersAreListedRequeuedAndDeletedFromAnotherBroker) {
  RedisServer server;
  expect_dead_letters_listed_requeued_and_deleted([&] { return make_broker(server); });
}

// ---- cancellation (tests/cpp/cancellation_scenario.hpp, src/redis/cancellations.hpp)

TEST(RedisBroker, ACancellationFromAnotherBrokerInterruptsTheRunningMessageAndSkipsAPendingOne) {
  RedisServer server;
  expect_running_interrupted_and_pending_skipped([&] { return make_broker(server); },
                                                 [&] { return server.call({"ZCARD", "dramatiq:default.XQ"}).integer; });
}

TEST(RedisBroker, CancellationsInForceWhenAWorkerStartsAreHonouredAndExpiredOnesAreNot) {
  RedisServer server;
  expect_cancellations_in_force_honoured([&] { return make_broker(server); });
  EXPECT_EQ(server.call({"ZCARD", "dramatiq:__cancelled__"}).integer, 2);
}
