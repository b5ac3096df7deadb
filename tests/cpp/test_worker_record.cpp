// Worker records: their JSON form, and the scenario
// (worker_record_scenario.hpp) on the StubBroker; the server brokers run it
// in their own test files.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker_record.hpp"
#include "worker_record_scenario.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;

TEST(WorkerRecord, ReadsBackWhatItWrote) {
  WorkerRecord record;
  record.worker_id = "w-1";
  record.hostname = "host \"a\"";
  record.pid = 42;
  record.started_at_ms = 1000;
  record.heartbeat_at_ms = 2000;
  record.expires_at_ms = 5000;
  record.worker_threads = 8;
  record.queues = {"default", "default.DQ"};
  record.held = {{"default", 3}, {"default.DQ", 0}};
  record.running = {RunningMessage{140000000000001ul, "m-1", "add", "default", 1500}};
  record.processed = 7;
  record.failed = 2;
  record.retried = 1;
  record.skipped = 1;
  record.recent_durations_ms = {3, 5};
  record.recent_waits_ms = {1, 0};
  WorkerRecord back = decode_worker_record(encode_worker_record(record));
  EXPECT_EQ(back.worker_id, "w-1");
  EXPECT_EQ(back.hostname, "host \"a\"");
  EXPECT_EQ(back.pid, 42);
  EXPECT_EQ(back.started_at_ms, 1000);
  EXPECT_EQ(back.heartbeat_at_ms, 2000);
  EXPECT_EQ(back.expires_at_ms, 5000);
  EXPECT_EQ(back.worker_threads, 8);
  EXPECT_EQ(back.queues, record.queues);
  EXPECT_EQ(back.held, record.held);
  ASSERT_EQ(back.running.size(), 1u);
  EXPECT_EQ(back.running[0].thread, 140000000000001ul);
  EXPECT_EQ(back.running[0].message_id, "m-1");
  EXPECT_EQ(back.running[0].actor_name, "add");
  EXPECT_EQ(back.running[0].queue_name, "default");
  EXPECT_EQ(back.running[0].started_at_ms, 1500);
  EXPECT_EQ(back.processed, 7);
  EXPECT_EQ(back.failed, 2);
  EXPECT_EQ(back.retried, 1);
  EXPECT_EQ(back.skipped, 1);
  EXPECT_EQ(back.recent_durations_ms, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(back.recent_waits_ms, (std::vector<std::int64_t>{1, 0}));
}

TEST(WorkerRecord, TextThatIsNotARecordIsADecodeError) {
  for (const char* text : {"", "not json", "[]", "{}", R"({"worker_id": 1})",
                           R"({"worker_id":"w","hostname":"h","pid":"1"})"}) {
    EXPECT_THROW(decode_worker_record(text), DecodeError) << text;
  }
}

TEST(StubBroker, WorkerRecordsFollowTheWorker) {
  auto broker = std::make_shared<StubBroker>();
  expect_worker_records_follow_the_worker([&] { return broker; });
}

TEST(StubBroker, ExpiredWorkerRecordsAreNotListed) {
  auto broker = std::make_shared<StubBroker>();
  expect_expired_worker_records_not_listed([&] { return broker; });
}

TEST(Broker, ABrokerThatKeepsNoWorkerRecordsGetsNoneAndSaysSo) {
  struct Bare : StubBroker {
    bool keeps_worker_records() const override { return false; }
    std::vector<WorkerRecord> list_worker_records() override { return Broker::list_worker_records(); }
  };
  auto broker = std::make_shared<Bare>();
  EXPECT_THROW(broker->list_worker_records(), std::logic_error);
}

TEST(StubBroker, AWorkerRecordCountsFailuresAndRetries) {
  auto broker = std::make_shared<StubBroker>();
  broker->add_middleware(std::make_shared<Retries>());
  std::atomic<int> runs{0};
  // Fails on its first run, then succeeds: one failure, retried.
  broker->declare_actor(make_actor("flaky", [&](const Array&, const Object&) {
    if (runs++ == 0) throw std::runtime_error("first time");
    return Value();
  }, "default", 0, Value(Object{{"max_retries", 1}, {"min_backoff", 1}, {"max_backoff", 1}})));
  // Fails for good: one failure, not retried.
  broker->declare_actor(make_actor("broken", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("always");
  }, "default", 0, Value(Object{{"max_retries", 0}})));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 1});
  worker.start();
  broker->enqueue(make_message("flaky", {}));
  broker->enqueue(make_message("broken", {}));
  auto done = wait_for_record(*broker, [](const WorkerRecord& record) { return record.processed == 3; });
  worker.stop(kLongWait);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->failed, 2);
  EXPECT_EQ(done->retried, 1);
  EXPECT_EQ(done->skipped, 0);
}
