// The RabbitmqBroker through the engine's C++ API, against one real
// rabbitmq-server shared by the whole run (it boots in seconds): queues
// declared with upstream's arguments, delivery through a Worker, dead
// letters, delays, requeue on stop, heartbeats during long actors,
// publisher confirms and connection errors. Each test has its own queues.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/rabbitmq_broker.hpp"
#include "dramatiq/worker.hpp"
#include "rabbitmq/connection.hpp"
#include "rabbitmq/declare.hpp"
#include "rabbitmq_server.hpp"
#include "cancellation_scenario.hpp"
#include "dead_letter_scenario.hpp"
#include "message_listing_scenario.hpp"
#include "queue_counts_scenario.hpp"
#include "worker_record_scenario.hpp"
#include "schedule/scheduler.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

RabbitmqServer& server() {
  static RabbitmqServer instance;
  return instance;
}

std::shared_ptr<RabbitmqBroker> make_broker(RabbitmqBrokerOptions options = server().options()) {
  return std::make_shared<RabbitmqBroker>(std::move(options));
}

// Without confirms a publish is not yet counted when it returns (the
// server routes it asynchronously): tests that count what they sent
// publish with confirms.
RabbitmqBrokerOptions confirmed(RabbitmqBrokerOptions options = server().options()) {
  options.confirm_delivery = true;
  return options;
}

std::string unique_queue(const std::string& stem) {
  static std::atomic<int> counter{0};
  return stem + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

WorkerOptions worker_options(int threads) { return WorkerOptions{std::nullopt, 50, threads}; }

bool joined(RabbitmqBroker& broker, const std::string& queue) {
  return broker.join_idle(queue, 3, 20ms, kLongWait);
}

// A raw declaration with the given arguments on a connection of its own:
// RabbitMQ refuses (406) a declaration whose arguments differ from the
// queue's, so a success proves the arguments are the same.
int declare_with(const std::string& name, amqp_table_t arguments) {
  rabbitmq::Connection connection(server().options());
  auto* ok = amqp_queue_declare(connection.state(), rabbitmq::Connection::kChannel,
                                amqp_cstring_bytes(name.c_str()), 0, 1, 0, 0, arguments);
  if (ok) return 200;
  try {
    connection.check(amqp_get_rpc_reply(connection.state()), "declare");
  } catch (const rabbitmq::ChannelClosed& e) {
    return e.reply_code;
  }
  return -1;
}

amqp_table_entry_t string_entry(const char* key, const char* value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = amqp_cstring_bytes(value);
  return entry;
}
amqp_table_entry_t i32_entry(const char* key, std::int32_t value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_I32;
  entry.value.value.i32 = value;
  return entry;
}

}  // namespace

TEST(RabbitmqBroker, DeclaresTheThreeQueuesWithUpstreamsArguments) {
  RabbitmqBrokerOptions options = server().options();
  options.max_priority = 10;
  auto broker = make_broker(options);
  std::string queue = unique_queue("declare");
  broker->ensure_queue(queue);
  std::string xq = queue + ".XQ";

  std::vector<amqp_table_entry_t> main{string_entry("x-dead-letter-exchange", ""),
                                       string_entry("x-dead-letter-routing-key", xq.c_str()),
                                       i32_entry("x-max-priority", 10)};
  EXPECT_EQ(declare_with(queue, {3, main.data()}), 200);
  EXPECT_EQ(declare_with(queue + ".DQ", {3, main.data()}), 200);
  std::vector<amqp_table_entry_t> dead{i32_entry("x-message-ttl", 86400000 * 7)};
  EXPECT_EQ(declare_with(xq, {1, dead.data()}), 200);
  // The check can fail: other arguments are refused.
  EXPECT_EQ(declare_with(queue, {2, main.data()}), AMQP_PRECONDITION_FAILED);
  std::vector<amqp_table_entry_t> other_ttl{i32_entry("x-message-ttl", 1000)};
  EXPECT_EQ(declare_with(xq, {1, other_ttl.data()}), AMQP_PRECONDITION_FAILED);
}

TEST(RabbitmqBroker, QueuesAreCreatedOnFirstUseNotOnDeclaration) {
  auto broker = make_broker();
  std::string queue = unique_queue("lazy");
  broker->declare_queue(queue);
  EXPECT_EQ(broker->get_declared_queues().count(queue), 1u);
  EXPECT_EQ(broker->get_declared_delay_queues().count(queue + ".DQ"), 1u);
  rabbitmq::Connection connection(server().options());
  auto* ok = amqp_queue_declare(connection.state(), 1, amqp_cstring_bytes(queue.c_str()), /*passive=*/1, 0, 0, 0,
                                amqp_empty_table);
  EXPECT_EQ(ok, nullptr);  // 404: not on the server yet
  broker->ensure_queue(queue);
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 0u);
}

TEST(RabbitmqBroker, EnqueuedMessagesArePersistentAndCounted) {
  auto broker = make_broker(confirmed());
  std::string queue = unique_queue("counts");
  broker->declare_actor(make_actor("noop", [](const Array&, const Object&) { return Value(); }, queue));
  for (int i = 0; i < 3; ++i) broker->enqueue(make_message("noop", {Value(i)}, queue));
  broker->enqueue(make_message("noop", {}, queue), 60000);
  auto counts = broker->get_queue_message_counts(queue);
  EXPECT_EQ(counts.ready, 3u);
  EXPECT_EQ(counts.delayed, 1u);
  EXPECT_EQ(counts.dead, 0u);
  {
    // As upstream publishes: persistent, the encoded message as the body.
    rabbitmq::Connection connection(server().options());
    amqp_connection_state_t state = connection.state();
    amqp_basic_get(state, 1, amqp_cstring_bytes(queue.c_str()), /*no_ack=*/0);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state);
    ASSERT_EQ(reply.reply_type, AMQP_RESPONSE_NORMAL);
    ASSERT_EQ(reply.reply.id, AMQP_BASIC_GET_OK_METHOD);
    amqp_message_t message;
    ASSERT_EQ(amqp_read_message(state, 1, &message, 0).reply_type, AMQP_RESPONSE_NORMAL);
    EXPECT_TRUE(message.properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG);
    EXPECT_EQ(message.properties.delivery_mode, 2);
    EXPECT_FALSE(message.properties._flags & AMQP_BASIC_PRIORITY_FLAG);
    Message decoded = get_encoder()->decode(rabbitmq::string_of(message.body));
    EXPECT_EQ(decoded.queue_name, queue);
    amqp_destroy_message(&message);
  }  // closing the channel returns the unacked message
  broker->flush(queue);
  counts = broker->get_queue_message_counts(queue);
  EXPECT_EQ(counts.ready + counts.delayed, 0u);
}

TEST(RabbitmqBroker, WorkerProcessesAndAcksEveryMessage) {
  auto broker = make_broker(confirmed());
  std::string queue = unique_queue("work");
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }, queue));
  std::vector<Message> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(make_message("record", {Value(i)}, queue));
  broker->enqueue_all(std::move(batch));
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 200u);

  Worker worker(broker, worker_options(4));
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 200u);
  // Nothing was left unacked: a new consumer gets nothing back.
  auto counts = broker->get_queue_message_counts(queue);
  EXPECT_EQ(counts.ready, 0u);
  EXPECT_EQ(counts.dead, 0u);
}

TEST(RabbitmqBroker, FailedMessagesAreDeadLettered) {
  auto broker = make_broker();
  broker->add_middleware(std::make_shared<Retries>(Value(std::int64_t{0})));
  std::string queue = unique_queue("dead");
  broker->declare_actor(make_actor("fail", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("boom");
  }, queue));
  broker->enqueue(make_message("fail", {}, queue));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  EXPECT_EQ(broker->get_queue_message_counts(queue).dead, 1u);
}

TEST(RabbitmqBroker, UndecodableDeliveryIsDeadLettered) {
  auto broker = make_broker();
  std::string queue = unique_queue("garbage");
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }, queue));
  broker->ensure_queue(queue);
  {
    rabbitmq::Connection connection(server().options());
    amqp_basic_properties_t properties{};
    ASSERT_EQ(amqp_basic_publish(connection.state(), 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0,
                                 0, &properties, amqp_cstring_bytes("\xff not json")),
              AMQP_STATUS_OK);
  }
  broker->enqueue(make_message("record", {Value(1)}, queue));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 1u);
  EXPECT_EQ(broker->get_queue_message_counts(queue).dead, 1u);
}

TEST(RabbitmqBroker, DelayedMessagesRunOnceDue) {
  auto broker = make_broker();
  std::string queue = unique_queue("delay");
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }, queue));
  Message stored = broker->enqueue(make_message("record", {Value(1)}, queue), 200);
  EXPECT_EQ(stored.queue_name, queue + ".DQ");
  Worker worker(broker, worker_options(2));
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  ASSERT_EQ(calls.count(), 1u);
  EXPECT_GE(calls.ran_at()[0], stored.options.find("eta")->as_int());
  auto counts = broker->get_queue_message_counts(queue);
  EXPECT_EQ(counts.ready + counts.delayed + counts.dead, 0u);
}

TEST(RabbitmqBroker, StoppingAWorkerReturnsWhatItHadNotStarted) {
  auto broker = make_broker();
  std::string queue = unique_queue("requeue");
  Latch release;
  std::atomic<int> started{0};
  broker->declare_actor(make_actor("block", [&](const Array&, const Object&) {
    started += 1;
    release.wait();
    return Value();
  }, queue));
  for (int i = 0; i < 5; ++i) broker->enqueue(make_message("block", {Value(i)}, queue));
  Worker worker(broker, worker_options(1));
  worker.start();
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (started == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(started.load(), 1);
  std::thread stopper([&] { worker.stop(kLongWait); });
  release.open();
  stopper.join();
  // What ran is acked; the prefetched rest is back. (The release may let
  // the thread start one more before stop() clears the running flag.)
  EXPECT_GE(started.load(), 1);
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 5u - static_cast<unsigned>(started.load()));
}

// With a 1 s heartbeat the server closes a connection that stays silent for
// about 2 s: the consumer's I/O thread must keep answering while the only
// worker thread is busy for longer, or the message would be redelivered
// and run a second time.
TEST(RabbitmqBroker, HeartbeatsAreAnsweredWhileAnActorRunsLong) {
  RabbitmqBrokerOptions options = server().options();
  options.servers.front().heartbeat = 1;
  auto broker = make_broker(options);
  std::string queue = unique_queue("heartbeat");
  std::atomic<int> runs{0};
  broker->declare_actor(make_actor("long", [&](const Array&, const Object&) {
    runs += 1;
    std::this_thread::sleep_for(4s);  // the long-running actor under test
    return Value();
  }, queue));
  broker->enqueue(make_message("long", {}, queue));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join_idle(queue, 3, 50ms, 20s));
  worker.stop(kLongWait);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 0u);
}

TEST(RabbitmqBroker, ConfirmedPublishRedeclaresAQueueThatDisappeared) {
  RabbitmqBrokerOptions options = server().options();
  options.confirm_delivery = true;
  auto broker = make_broker(options);
  std::string queue = unique_queue("confirm");
  broker->declare_actor(make_actor("noop", [](const Array&, const Object&) { return Value(); }, queue));
  broker->enqueue(make_message("noop", {}, queue));
  {
    rabbitmq::Connection connection(server().options());
    ASSERT_NE(amqp_queue_delete(connection.state(), 1, amqp_cstring_bytes(queue.c_str()), 0, 0), nullptr);
  }
  broker->enqueue(make_message("noop", {}, queue));
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 1u);
}

TEST(RabbitmqBroker, GroupOfConfirmedPublishesIsStoredWhole) {
  RabbitmqBrokerOptions options = server().options();
  options.confirm_delivery = true;
  auto broker = make_broker(options);
  std::string queue = unique_queue("group");
  broker->declare_actor(make_actor("noop", [](const Array&, const Object&) { return Value(); }, queue));
  std::vector<Message> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(make_message("noop", {Value(i)}, queue));
  broker->enqueue_all(std::move(batch));
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 1000u);
}

TEST(RabbitmqBroker, PriorityOrdersWaitingMessages) {
  RabbitmqBrokerOptions options = server().options();
  options.max_priority = 10;
  auto broker = make_broker(options);
  std::string queue = unique_queue("priority");
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }, queue));
  for (int i = 0; i < 5; ++i) {
    Value priority = Value::object();
    priority.set("broker_priority", Value(std::int64_t{i * 2}));
    broker->enqueue(make_message("record", {Value(i)}, queue, priority));
  }
  WorkerOptions one_at_a_time = worker_options(1);
  one_at_a_time.queue_prefetch = 1;
  Worker worker(broker, one_at_a_time);
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  auto messages = calls.messages();
  ASSERT_EQ(messages.size(), 5u);
  std::vector<std::int64_t> order;
  for (const auto& m : messages) order.push_back(m.args.as_array().at(0).as_int());
  EXPECT_EQ(order, (std::vector<std::int64_t>{4, 3, 2, 1, 0}));
}

TEST(RabbitmqBroker, UnreachableServerRaisesConnectionClosed) {
  RabbitmqBrokerOptions options = server().options();
  options.servers.front().port = 1;  // nothing listens there
  auto broker = make_broker(options);
  broker->declare_actor(make_actor("noop", [](const Array&, const Object&) { return Value(); }));
  EXPECT_THROW(broker->enqueue(make_message("noop", {})), ConnectionClosed);
}

TEST(RabbitmqBroker, FailsOverToTheNextServer) {
  RabbitmqBrokerOptions options = confirmed();
  RabbitmqConnectionOptions dead = options.servers.front();
  dead.port = 1;
  options.servers.insert(options.servers.begin(), dead);
  auto broker = make_broker(options);
  std::string queue = unique_queue("failover");
  broker->declare_actor(make_actor("noop", [](const Array&, const Object&) { return Value(); }, queue));
  broker->enqueue(make_message("noop", {}, queue));
  EXPECT_EQ(broker->get_queue_message_counts(queue).ready, 1u);
}

// Acks may go as one multiple ack: one must never cover a delivery that is
// being rejected, still running or was never handed out.
TEST(RabbitmqBroker, InterleavedAcksAndRejectionsSettleEachMessageAsDecided) {
  auto broker = make_broker(confirmed());
  broker->add_middleware(std::make_shared<Retries>(Value(std::int64_t{0})));
  std::string queue = unique_queue("mixed");
  std::atomic<int> runs{0};
  broker->declare_actor(make_actor("odd_fails", [&](const Array& args, const Object&) -> Value {
    runs += 1;
    if (args.at(0).as_int() % 2 == 1) {
      // Still running while later even ones finish and are acked.
      std::this_thread::sleep_for(5ms);
      throw std::runtime_error("odd (expected by the test)");
    }
    return Value();
  }, queue));
  std::vector<Message> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(make_message("odd_fails", {Value(i)}, queue));
  broker->enqueue_all(std::move(batch));
  Worker worker(broker, worker_options(4));
  worker.start();
  ASSERT_TRUE(joined(*broker, queue));
  worker.stop(kLongWait);
  EXPECT_EQ(runs.load(), 200);
  auto counts = broker->get_queue_message_counts(queue);
  EXPECT_EQ(counts.ready, 0u);
  EXPECT_EQ(counts.dead, 100u);
}

namespace {

Message tick_message(const std::string& queue, std::int64_t tick_ms) {
  Value options = Value::object();
  options.set("periodic_tick", Value(tick_ms));
  return Message::create(queue, "beat", Value::array(), Value::object(), options);
}

}  // namespace

TEST(RabbitmqBroker, ATickIsStoredOnceAndItsRecordOutlivesTheBroker) {
  std::string queue = unique_queue("ticks");
  std::string name = unique_queue("schedule");
  {
    auto broker = make_broker(confirmed());
    broker->declare_queue(queue);
    EXPECT_EQ(broker->last_tick(name), std::nullopt);
    EXPECT_TRUE(broker->enqueue_tick(name, 1000, tick_message(queue, 1000)));
    EXPECT_FALSE(broker->enqueue_tick(name, 1000, tick_message(queue, 1000)));
    EXPECT_FALSE(broker->enqueue_tick(name, 500, tick_message(queue, 500)));
    EXPECT_TRUE(broker->enqueue_tick(name, 2000, tick_message(queue, 2000)));
    EXPECT_EQ(broker->last_tick(name), 2000);
    broker->close();
  }
  auto reopened = make_broker(confirmed());
  reopened->declare_queue(queue);
  EXPECT_EQ(reopened->last_tick(name), 2000);
  EXPECT_EQ(reopened->get_queue_message_counts(queue).ready, 2u);
}

TEST(RabbitmqBroker, ThreeRacingSchedulersEnqueueEveryTickExactlyOnce) {
  using dramatiq::schedule::CronSchedule;
  using dramatiq::schedule::PeriodicTask;
  using dramatiq::schedule::Scheduler;
  using dramatiq::schedule::Seconds;
  const std::string queue = unique_queue("racing-ticks");
  const std::string name = unique_queue("racing");
  const Seconds start = Seconds(std::chrono::sys_days(std::chrono::year(2026) / 12 / 3));
  const int ticks = 60;
  std::vector<std::shared_ptr<RabbitmqBroker>> brokers;
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  for (int i = 0; i < 3; ++i) {
    brokers.push_back(make_broker(confirmed()));
    brokers.back()->declare_queue(queue);
    PeriodicTask task{name, CronSchedule::parse("* * * * * *")};
    task.queue_name = queue;
    task.actor_name = "beat";
    schedulers.push_back(std::make_unique<Scheduler>(brokers.back(), std::vector{task}));
  }
  std::vector<std::map<std::int64_t, int>> enqueued(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      for (int s = 0; s < ticks; ++s) {
        for (const auto& outcome : schedulers[i]->run_due(start + std::chrono::seconds(s))) {
          EXPECT_TRUE(outcome.error.empty()) << outcome.error;
          enqueued[i][outcome.tick_ms] += outcome.enqueued ? 1 : 0;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int s = 0; s < ticks; ++s) {
    std::int64_t tick_ms = (start.time_since_epoch().count() + s) * 1000;
    int total = 0;
    for (const auto& by_tick : enqueued) {
      auto it = by_tick.find(tick_ms);
      if (it != by_tick.end()) total += it->second;
    }
    EXPECT_EQ(total, 1) << "tick " << s;
  }
  EXPECT_EQ(brokers[0]->get_queue_message_counts(queue).ready, static_cast<std::size_t>(ticks));
  for (auto& broker : brokers) broker->close();
}

// ---- queue counts (tests/cpp/queue_counts_scenario.hpp)

TEST(RabbitmqBroker, CountsAQueuesMessagesByStateButNotThoseInFlight) {
  dramatiq::testing::expect_queue_counts_by_state([] { return make_broker(confirmed()); },
                                                  /*sees_in_flight=*/false);
}

// ---- waiting messages (tests/cpp/message_listing_scenario.hpp)

TEST(RabbitmqBroker, WaitingMessagesAreListedFromAnotherBroker) {
  dramatiq::testing::expect_waiting_messages_listed([] { return make_broker(confirmed()); });
}

// ---- worker records (tests/cpp/worker_record_scenario.hpp, src/rabbitmq/worker_records.hpp)

TEST(RabbitmqBroker, WorkerRecordsFollowTheWorker) {
  dramatiq::testing::expect_worker_records_follow_the_worker([] { return make_broker(confirmed()); });
}

TEST(RabbitmqBroker, ExpiredWorkerRecordsAreNotListed) {
  dramatiq::testing::expect_expired_worker_records_not_listed([] { return make_broker(confirmed()); });
}

// ---- dead letters (tests/cpp/dead_letter_scenario.hpp, src/rabbitmq/dead_letters.hpp)

TEST(RabbitmqBroker, DeadLettersAreListedRequeuedAndDeletedFromAnotherBroker) {
  dramatiq::testing::expect_dead_letters_listed_requeued_and_deleted([] { return make_broker(confirmed()); });
}

// ---- cancellation (tests/cpp/cancellation_scenario.hpp, src/rabbitmq/cancellations.hpp)

TEST(RabbitmqBroker, ACancellationFromAnotherBrokerInterruptsTheRunningMessageAndSkipsAPendingOne) {
  auto probe = make_broker(confirmed());
  dramatiq::testing::expect_running_interrupted_and_pending_skipped(
      [] { return make_broker(confirmed()); },
      [&] { return static_cast<long long>(probe->get_queue_message_counts("default").dead); });
}

TEST(RabbitmqBroker, CancellationsInForceWhenAWorkerStartsAreHonouredAndExpiredOnesAreNot) {
  dramatiq::testing::expect_cancellations_in_force_honoured([] { return make_broker(confirmed()); });
}
