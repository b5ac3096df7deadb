// The interrupt_wait scenario, run against every broker whose consumer
// waits for messages: a stopping worker ends an idle consumer's wait
// instead of waiting out the fetch timeout.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dramatiq/consumer.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

// `consumer` waits in next() for twice kLongWait; interrupt_wait(), repeated
// until it lands while next() waits (a request made just before the wait
// counts too), must end that wait within kLongWait.
inline void expect_interrupt_wait_ends_an_idle_wait(Consumer& consumer) {
  Latch waiting;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    waiting.open();
    EXPECT_EQ(consumer.next(kLongWait * 2), nullptr);
    returned = true;
  });
  ASSERT_TRUE(waiting.wait());
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (!returned && std::chrono::steady_clock::now() < deadline) {
    consumer.interrupt_wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(returned.load()) << "interrupt_wait() did not end the consumer's wait";
  waiter.join();
}

}  // namespace dramatiq::testing
