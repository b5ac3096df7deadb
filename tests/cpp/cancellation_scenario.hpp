// The cancellation scenarios, run against every engine broker that records
// cancellations on its server or file. `make` opens another broker object
// on the same server or file each time it is called, as another process
// would: cancellations must reach a worker through the broker, not through
// shared memory.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/this_message.hpp"
#include "dramatiq/worker.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

using BrokerMaker = std::function<std::shared_ptr<Broker>()>;

// A one-thread worker runs a message that spins until interrupted, with a
// second one waiting behind it; another broker cancels both. The running
// one is interrupted at its check point, the waiting one never runs, and
// neither is dead-lettered or retried (`dead_letters` counts the queue's).
inline void expect_running_interrupted_and_pending_skipped(const BrokerMaker& make,
                                                           const std::function<long long()>& dead_letters) {
  auto broker = make();
  auto canceller = make();
  Latch started;
  std::atomic<int> runs{0};
  std::atomic<bool> interrupted{false};
  broker->add_middleware(std::make_shared<Retries>());  // which must not retry it
  broker->declare_actor(make_actor("spin", [&](const Array&, const Object&) -> Value {
    runs += 1;
    started.open();
    auto give_up = std::chrono::steady_clock::now() + kLongWait;
    while (!this_message::interrupted() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    interrupted = this_message::interrupted();
    this_message::check_interrupted();
    return Value();
  }, "default", 0, Value(Object{{"max_retries", 3}})));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 1});
  worker.start();
  Message running = broker->enqueue(make_message("spin", {}));
  Message pending = broker->enqueue(make_message("spin", {}));
  ASSERT_TRUE(started.wait());
  canceller->cancel(pending.message_id);
  canceller->cancel(running.message_id);
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  EXPECT_TRUE(interrupted.load());
  EXPECT_EQ(runs.load(), 1);  // the pending one never ran; the running one was not retried
  EXPECT_EQ(dead_letters(), 0);
}

// Cancellations recorded before a worker (of another broker object)
// starts are honoured; an expired one is not.
inline void expect_cancellations_in_force_honoured(const BrokerMaker& make) {
  auto producer = make();
  producer->declare_queue("default");
  Message cancelled = producer->enqueue(make_message("work", {Value(1)}));
  Message expired = producer->enqueue(make_message("work", {Value(2)}));
  producer->cancel(cancelled.message_id);
  producer->cancel(expired.message_id, std::chrono::milliseconds(1));
  auto past = current_millis() + 1;
  while (current_millis() <= past) std::this_thread::yield();  // two milliseconds at most

  auto broker = make();
  Calls calls;
  broker->declare_actor(make_actor("work", [&](const Array& args, const Object&) -> Value {
    calls.record(make_message("work", Array(args)));
    return Value();
  }));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 2});
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  auto ran = calls.messages();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].args.as_array()[0].as_int(), 2);
}

}  // namespace dramatiq::testing
