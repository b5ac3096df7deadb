// Broker::list_messages, run against every engine broker: one broker object
// sends, another lists what waits (as a dashboard in another process
// would), and what was listed is still there to be consumed.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dramatiq/encoder.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

inline void expect_waiting_messages_listed(const std::function<std::shared_ptr<Broker>()>& make) {
  auto broker = make();
  auto lister = make();
  broker->declare_queue("default");
  std::vector<std::string> ready;
  for (int i = 0; i < 3; ++i) ready.push_back(broker->enqueue(make_message("add", {Value(i)})).message_id);
  std::set<std::string> delayed;
  for (int i = 0; i < 2; ++i) delayed.insert(broker->enqueue(make_message("add", {Value(10 + i)}), 60000).message_id);

  auto listed = lister->list_messages("default", 100);
  ASSERT_EQ(listed.size(), 5u);
  std::vector<std::string> listed_ready;
  std::set<std::string> listed_delayed;
  for (const auto& stored : listed) {
    Message message = get_encoder()->decode(stored.data);
    if (stored.delayed) {
      listed_delayed.insert(message.message_id);
    } else {
      listed_ready.push_back(message.message_id);
    }
  }
  EXPECT_EQ(listed_ready, ready);  // in the order they will be taken
  EXPECT_EQ(listed_delayed, delayed);
  EXPECT_FALSE(listed[0].delayed);
  EXPECT_TRUE(listed[4].delayed);
  auto first_two = lister->list_messages("default", 2);
  ASSERT_EQ(first_two.size(), 2u);
  EXPECT_EQ(get_encoder()->decode(first_two[1].data).message_id, ready[1]);
  EXPECT_TRUE(lister->list_messages("default", 0).empty());

  // Listing took nothing away.
  auto consumer = broker->consume("default", 3);
  std::set<std::string> consumed;
  for (int i = 0; i < 3; ++i) {
    auto message = consumer->next(kLongWait);
    ASSERT_NE(message, nullptr);
    consumed.insert(message->message.message_id);
    consumer->ack(*message);
  }
  EXPECT_EQ(consumed, std::set<std::string>(ready.begin(), ready.end()));
  consumer->close();
  broker->flush_all();
}

}  // namespace dramatiq::testing
