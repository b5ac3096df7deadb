// Broker::queue_counts on the StubBroker (the scenario: queue_counts_scenario.hpp;
// the server brokers run it in their own test files).
#include <gtest/gtest.h>

#include "dramatiq/stub_broker.hpp"
#include "queue_counts_scenario.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;

TEST(StubBroker, CountsAQueuesMessagesByState) {
  auto broker = std::make_shared<StubBroker>();
  expect_queue_counts_by_state([&] { return broker; }, /*sees_in_flight=*/true);
}

TEST(StubBroker, CountingAnUndeclaredQueueIsQueueNotFound) {
  StubBroker broker;
  EXPECT_THROW(broker.queue_counts("nowhere"), QueueNotFound);
}
