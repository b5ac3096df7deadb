// Broker::queue_counts, run against every engine broker: one broker object
// sends and consumes, another counts (as a dashboard in another process
// would), so the counts come from the server or file.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "test_support.hpp"

namespace dramatiq::testing {

// Four messages sent now and two delayed by a minute; a consumer nacks the
// first (dead-lettered) and holds the second: 2 ready, 1 in flight (where
// the broker can see it), 2 delayed, 1 dead. A broker that settles in the
// background reaches those counts within kLongWait.
inline void expect_queue_counts_by_state(const std::function<std::shared_ptr<Broker>()>& make,
                                         bool sees_in_flight) {
  auto broker = make();
  auto counter = make();
  broker->declare_queue("default");
  for (int i = 0; i < 4; ++i) broker->enqueue(make_message("add", {}));
  for (int i = 0; i < 2; ++i) broker->enqueue(make_message("add", {}), 60000);
  auto consumer = broker->consume("default", 1);
  auto first = consumer->next(kLongWait);
  ASSERT_NE(first, nullptr);
  consumer->nack(*first);
  auto second = consumer->next(kLongWait);  // the window is one: nothing more is delivered
  ASSERT_NE(second, nullptr);

  QueueCounts counts;
  const auto give_up = std::chrono::steady_clock::now() + kLongWait;
  do {
    counts = counter->queue_counts("default");
    if (counts.dead == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a settlement the broker sends on its own
  } while (std::chrono::steady_clock::now() < give_up);
  EXPECT_EQ(counts.ready, 2);
  EXPECT_EQ(counts.delayed, 2);
  EXPECT_EQ(counts.dead, 1);
  if (sees_in_flight) {
    ASSERT_TRUE(counts.in_flight.has_value());
    EXPECT_EQ(*counts.in_flight, 1);
  } else {
    EXPECT_FALSE(counts.in_flight.has_value());
  }

  consumer->ack(*second);
  consumer->close();
  broker->flush_all();  // a server shared with the next test starts empty
}

}  // namespace dramatiq::testing
