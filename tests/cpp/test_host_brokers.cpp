// The Broker's seams for brokers and broker subclasses written in a host
// language (Python): a host enqueue that the engine's own enqueues go
// through, the worker's consume_for_worker (with its fetch timeout),
// announce_queue reaching running workers, and $dramatiq_restart_delay.
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using namespace dramatiq;
using namespace std::chrono_literals;

namespace {

Message message_for(const std::string& queue) {
  return Message::create(queue, "actor", Value(Array{}), Value(Object{}), Value(Object{}));
}

// A stub broker that records what the worker asked of it.
class RecordingStub : public StubBroker {
 public:
  std::unique_ptr<Consumer> consume_for_worker(const std::string& queue_name, int prefetch,
                                               std::chrono::milliseconds idle_timeout) override {
    {
      std::lock_guard lock(mutex);
      opened.emplace_back(queue_name, idle_timeout);
    }
    changed.notify_all();
    return StubBroker::consume_for_worker(queue_name, prefetch, idle_timeout);
  }
  bool wait_for_consumer(const std::string& queue_name) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 30s, [&] {
      for (auto& [queue, timeout] : opened) {
        if (queue == queue_name) return true;
      }
      return false;
    });
  }
  using Broker::announce_queue;

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<std::string, std::chrono::milliseconds>> opened;
};

}  // namespace

TEST(HostBrokers, EnqueueGoesThroughTheHostEnqueueAndEnqueueHereDoesNot) {
  StubBroker broker;
  broker.declare_queue("default");
  std::vector<std::string> seen;
  broker.set_host_enqueue([&](Message message, Delay delay) {
    seen.push_back(message.message_id + (delay ? " delayed" : ""));
    return message;
  });
  Message sent = broker.enqueue(message_for("default"), 5);
  ASSERT_EQ(seen, std::vector<std::string>{sent.message_id + " delayed"});
  EXPECT_EQ(broker.queue_size("default"), 0u);
  EXPECT_EQ(broker.queue_size("default.DQ"), 0u);

  broker.enqueue_here(message_for("default"));
  EXPECT_EQ(broker.queue_size("default"), 1u);
  EXPECT_EQ(seen.size(), 1u);

  broker.set_host_enqueue({});
  broker.enqueue(message_for("default"));
  EXPECT_EQ(broker.queue_size("default"), 2u);
}

TEST(HostBrokers, TheWorkerOpensConsumersWithItsTimeoutAndConsumesAnnouncedQueues) {
  auto broker = std::make_shared<RecordingStub>();
  broker->declare_queue("default");
  WorkerOptions options;
  options.worker_timeout_ms = 123;
  options.worker_threads = 1;
  Worker worker(broker, options);
  worker.start();
  ASSERT_TRUE(broker->wait_for_consumer("default"));
  // A broker that keeps its own queues tells running workers of a new one.
  broker->announce_queue("later");
  ASSERT_TRUE(broker->wait_for_consumer("later"));
  ASSERT_TRUE(broker->wait_for_consumer("later.DQ"));
  worker.stop(5s);
  std::lock_guard lock(broker->mutex);
  for (auto& [queue, timeout] : broker->opened) EXPECT_EQ(timeout, 123ms) << queue;
}

TEST(HostBrokers, RestartDelayIsReadFromTheEnvironment) {
  ::setenv("dramatiq_restart_delay", "250", 1);
  EXPECT_EQ(worker_environment().consumer_restart_delay_ms, 250);
  ::unsetenv("dramatiq_restart_delay");
  EXPECT_FALSE(worker_environment().consumer_restart_delay_ms.has_value());
}
