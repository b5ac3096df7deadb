// Cancelling messages (include/dramatiq/cancellation.hpp) on the stub
// broker: a pending message is skipped and acked, a running one is
// interrupted at its check point and not retried, a cancellation recorded
// before a worker starts is still honoured, and its result is a Cancelled
// failure. (Each network broker's record and notification are tested
// against its real server in its own suite.)
#include "dramatiq/dramatiq.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace dramatiq;
using namespace std::chrono_literals;
using dramatiq::testing::kLongWait;
using dramatiq::testing::Latch;

namespace {

class SkipRecorder : public Middleware {
 public:
  std::string name() const override { return "SkipRecorder"; }
  void after_skip_message(Broker&, MessageProxy& message) override {
    std::lock_guard lock(mutex);
    skipped.push_back(message.message.message_id);
  }
  std::mutex mutex;
  std::vector<std::string> skipped;
};

class Cancellation : public ::testing::Test {
 protected:
  void SetUp() override {
    broker = connect("stub://");
    broker->add_middleware(std::make_shared<Results>(std::make_shared<StubResultBackend>()));
    broker->add_middleware(recorder);
  }
  void TearDown() override {
    if (worker) worker->stop(10s);
    broker->close();
  }
  StubBroker& stub() { return dynamic_cast<StubBroker&>(*broker); }
  void start_worker(int threads = 1) {
    worker = std::make_unique<Worker>(broker, WorkerOptions{.worker_timeout_ms = 20, .worker_threads = threads});
    worker->start();
  }
  template <typename R>
  std::pair<std::string, std::string> failure_of(const TypedMessage<R>& message) {
    try {
      message.get_result(kLongWait);
    } catch (const ResultFailure& failure) {
      return {failure.exception_type, failure.exception_message};
    }
    return {"(no failure)", ""};
  }

  std::shared_ptr<Broker> broker;
  std::shared_ptr<SkipRecorder> recorder = std::make_shared<SkipRecorder>();
  std::unique_ptr<Worker> worker;
};

TEST_F(Cancellation, APendingMessageIsSkippedAckedAndItsResultIsCancelled) {
  std::atomic<int> runs{0};
  Latch release;
  auto blocker = actor(broker, "blocker", [&] { return release.wait(); }, {.store_results = true});
  auto work = actor(broker, "work", [&](int n) { runs += 1; return n; }, {.store_results = true});
  start_worker(1);
  auto first = blocker.send();  // holds the only worker thread
  auto cancelled = work.send(1);
  auto kept = work.send(2);
  broker->cancel(cancelled.message_id());
  release.open();
  EXPECT_EQ(kept.get_result(kLongWait), 2);
  EXPECT_EQ(failure_of(cancelled), std::make_pair(std::string("Cancelled"),
                                                  std::string("the message was cancelled before it ran")));
  EXPECT_EQ(runs.load(), 1);
  broker->join("default", {.timeout = kLongWait});
  EXPECT_TRUE(stub().dead_letters().empty());  // acked, not dead-lettered
  std::lock_guard lock(recorder->mutex);
  EXPECT_EQ(recorder->skipped, std::vector<std::string>{cancelled.message_id()});
  (void)first;
}

TEST_F(Cancellation, ACancellationRecordedBeforeTheWorkerStartedIsHonoured) {
  std::atomic<int> runs{0};
  auto work = actor(broker, "work", [&](int n) { runs += 1; return n; }, {.store_results = true});
  auto cancelled = work.send(1);
  broker->cancel(cancelled.message_id());
  start_worker();
  auto kept = work.send(2);
  EXPECT_EQ(kept.get_result(kLongWait), 2);
  EXPECT_EQ(failure_of(cancelled).first, "Cancelled");
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(Cancellation, ARunningMessageIsInterruptedAtItsCheckPointAndNotRetried) {
  Latch started;
  std::atomic<int> attempts{0};
  auto spin = actor(
      broker, "spin",
      [&] {
        attempts += 1;
        started.open();
        auto give_up = std::chrono::steady_clock::now() + kLongWait;
        while (!this_message::interrupted()) {
          if (std::chrono::steady_clock::now() > give_up) return -1;
          std::this_thread::yield();
        }
        this_message::check_interrupted();
        return 0;  // not reached: check_interrupted threw
      },
      {.max_retries = 5, .store_results = true});
  start_worker();
  auto running = spin.send();
  ASSERT_TRUE(started.wait());
  broker->cancel(running.message_id());
  EXPECT_EQ(failure_of(running), std::make_pair(std::string("Cancelled"), std::string("the message was cancelled")));
  broker->join("default", {.timeout = kLongWait});
  worker->join();
  EXPECT_EQ(attempts.load(), 1);  // not retried
  EXPECT_TRUE(stub().dead_letters().empty());
}

TEST_F(Cancellation, AnExpiredCancellationNoLongerSkips) {
  auto work = actor(broker, "work", [](int n) { return n; }, {.store_results = true});
  auto message = work.message(7);
  broker->cancel(message.message_id(), 1ms);
  auto expired_at = current_millis() + 1;
  while (current_millis() <= expired_at) std::this_thread::yield();  // bounded: two milliseconds
  start_worker();
  broker->enqueue(message.message());
  EXPECT_EQ(message.get_result(kLongWait), 7);
}

TEST_F(Cancellation, BadArgumentsAndBrokersWithoutSupportAreClearErrors) {
  EXPECT_THROW(broker->cancel(""), std::invalid_argument);
  EXPECT_THROW(broker->cancel("id", 0ms), std::invalid_argument);
  class NoCancellation : public StubBroker {
   public:
    bool supports_cancellation() const override { return false; }

   protected:
    void do_cancel(const std::string& id, std::int64_t expires) override { Broker::do_cancel(id, expires); }
  };
  NoCancellation plain;
  EXPECT_THROW(plain.cancel("id"), std::logic_error);
}

}  // namespace
