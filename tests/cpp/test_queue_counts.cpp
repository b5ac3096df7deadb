// Broker::queue_counts and the dead-letter operations on the StubBroker (the
// scenarios: queue_counts_scenario.hpp, dead_letter_scenario.hpp; the
// server brokers run them in their own test files).
#include <gtest/gtest.h>

#include "dramatiq/stub_broker.hpp"
#include "dead_letter_scenario.hpp"
#include "message_listing_scenario.hpp"
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

TEST(StubBroker, DeadLettersAreListedRequeuedAndDeleted) {
  auto broker = std::make_shared<StubBroker>();
  expect_dead_letters_listed_requeued_and_deleted([&] { return broker; });
}

TEST(StubBroker, WaitingMessagesAreListed) {
  auto broker = std::make_shared<StubBroker>();
  expect_waiting_messages_listed([&] { return broker; });
}
