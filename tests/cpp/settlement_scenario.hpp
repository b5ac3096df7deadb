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

// A one-thread worker with a prefetch window of four takes three messages;
// the first blocks its actor. The consumer is then interrupted and a new
// one opened while all three are unsettled, and only then do they finish;
// three more follow through the new consumer. Every message must run once
// and be settled once, through the consumer that delivered it and before
// that consumer was closed; every consumer is closed in the end.
// `before_stop` runs with the same worker still up, after the six.
template <class Base>
void expect_settled_through_delivering_consumer(const std::shared_ptr<TrackingBroker<Base>>& broker,
                                                Interruption how,
                                                const std::function<void()>& before_stop = {}) {
  Latch first_running, gate, second_gate;
  std::atomic<int> runs{0};
  Calls calls;
  broker->declare_actor(make_actor("gated", [&](const Array& args, const Object&) {
    int run = runs++;
    if (run == 0) {
      first_running.open();
      gate.wait();
    } else if (run == 1) {
      second_gate.wait();
    }
    return calls.record(make_message("gated", args));
  }));
  Worker worker(broker, one_thread_window_of_four());
  worker.start();
  for (int i = 0; i < 3; ++i) broker->enqueue(make_message("gated", {Value(i)}));
  ASSERT_TRUE(first_running.wait());
  ASSERT_TRUE(broker->wait_delivered("default", 3));
  if (how == Interruption::PauseResume) {
    // The pause takes effect once the running actor returns.
    worker.request_pause();
    auto paused = std::async(std::launch::async, [&] { worker.wait_paused(); });
    gate.open();
    ASSERT_EQ(paused.wait_for(kLongWait), std::future_status::ready);
    worker.resume();
    ASSERT_TRUE(broker->wait_consumers_opened("default", 2));
  } else {
    // The window has room, so the consumer asks again at once: that fails.
    broker->fail_next_fetch("default");
    ASSERT_TRUE(broker->wait_consumers_opened("default", 2));
    gate.open();
  }
  second_gate.open();
  for (int i = 3; i < 6; ++i) broker->enqueue(make_message("gated", {Value(i)}));
  ASSERT_TRUE(broker->wait_delivered("default", 6));
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
