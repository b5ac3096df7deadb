// The consumer-ownership scenario, run against every engine broker: a
// delivery is settled through the consumer that delivered it, even after
// that consumer was retired by a pause/resume or a forced restart.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>

#include "dramatiq/worker.hpp"
#include "test_support.hpp"
#include "tracking_broker.hpp"

namespace dramatiq::testing {

enum class Interruption { PauseResume, ConsumerRestart };

inline WorkerOptions one_thread_window_of_four() {
  WorkerOptions options{std::nullopt, 50, 1};
  options.queue_prefetch = 4;
  options.consumer_restart_delay_ms = 10;
  return options;
}

// Six messages through a one-thread worker with a prefetch window of four:
// the first blocks its actor until four are delivered, then the consumer is
// interrupted while the others wait in the work queue. Every message must
// run once and be settled once, through the consumer that delivered it and
// before that consumer was closed; every consumer is closed in the end.
// `before_stop` runs with the same worker still up, after the six.
template <class Base>
void expect_settled_through_delivering_consumer(const std::shared_ptr<TrackingBroker<Base>>& broker,
                                                Interruption how,
                                                const std::function<void()>& before_stop = {}) {
  Latch first_running, gate;
  std::atomic<int> runs{0};
  Calls calls;
  broker->declare_actor(make_actor("gated", [&](const Array& args, const Object&) {
    if (runs++ == 0) {
      first_running.open();
      gate.wait();
    }
    return calls.record(make_message("gated", args));
  }));
  Worker worker(broker, one_thread_window_of_four());
  worker.start();
  for (int i = 0; i < 6; ++i) broker->enqueue(make_message("gated", {Value(i)}));
  ASSERT_TRUE(first_running.wait());
  ASSERT_TRUE(broker->wait_delivered("default", 4));
  if (how == Interruption::PauseResume) {
    // pause() returns once the worker thread parks, after the running actor.
    auto paused = std::async(std::launch::async, [&] { worker.pause(); });
    gate.open();
    ASSERT_EQ(paused.wait_for(kLongWait), std::future_status::ready);
    worker.resume();
  } else {
    // The consumer asks for more once half its window is free: that fetch fails.
    broker->fail_next_fetch("default");
    gate.open();
  }
  ASSERT_TRUE(broker->wait_consumers_opened("default", 2));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  auto records = broker->records();
  if (before_stop) before_stop();
  worker.stop();

  EXPECT_EQ(calls.count(), 6u);
  EXPECT_EQ(records.size(), 6u);
  for (const auto& [id, record] : records) {
    ASSERT_EQ(record.delivered_by.size(), 1u) << id;
    ASSERT_EQ(record.settled_by.size(), 1u) << id;
    EXPECT_EQ(record.settled_by[0], record.delivered_by[0]) << id << " settled through another consumer";
    EXPECT_FALSE(record.settled_after_close) << id;
  }
  EXPECT_TRUE(broker->wait_all_closed());
}

}  // namespace dramatiq::testing
