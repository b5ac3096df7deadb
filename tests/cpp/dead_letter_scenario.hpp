// Broker::list_dead_letters, requeue_dead_letters and delete_dead_letters,
// run against every engine broker that keeps dead letters: one broker object
// consumes and nacks, another lists, requeues and deletes (as a dashboard in
// another process would).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "dramatiq/encoder.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

// The message ids of `queue`'s dead letters, once they are `expected` (a
// broker may settle in the background) or kLongWait has passed.
inline std::set<std::string> dead_message_ids(Broker& keeper, const std::set<std::string>& expected) {
  std::set<std::string> ids;
  const auto give_up = std::chrono::steady_clock::now() + kLongWait;
  do {
    ids.clear();
    for (const auto& letter : keeper.list_dead_letters("default", 100)) {
      ids.insert(get_encoder()->decode(letter.data).message_id);
    }
    if (ids == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a settlement the broker sends on its own
  } while (std::chrono::steady_clock::now() < give_up);
  return ids;
}

inline void expect_dead_letters_listed_requeued_and_deleted(const std::function<std::shared_ptr<Broker>()>& make) {
  auto broker = make();
  auto keeper = make();
  broker->declare_queue("default");
  std::set<std::string> sent;
  for (int i = 0; i < 3; ++i) sent.insert(broker->enqueue(make_message("add", {Value(i)})).message_id);
  auto consumer = broker->consume("default", 3);
  for (int i = 0; i < 3; ++i) {
    auto message = consumer->next(kLongWait);
    ASSERT_NE(message, nullptr);
    consumer->nack(*message);
  }
  ASSERT_EQ(dead_message_ids(*keeper, sent), sent);

  auto letters = keeper->list_dead_letters("default", 100);
  ASSERT_EQ(letters.size(), 3u);
  for (std::size_t i = 1; i < letters.size(); ++i) {  // oldest first
    if (letters[i - 1].dead_at_ms && letters[i].dead_at_ms) {
      EXPECT_LE(*letters[i - 1].dead_at_ms, *letters[i].dead_at_ms);
    }
  }
  EXPECT_EQ(keeper->list_dead_letters("default", 2).size(), 2u);
  EXPECT_TRUE(keeper->list_dead_letters("default", 0).empty());
  EXPECT_EQ(keeper->queue_counts("default").dead, 3);
  auto message_id = [&](const StoredDeadLetter& letter) { return get_encoder()->decode(letter.data).message_id; };

  // One by id: it is delivered again.
  EXPECT_EQ(keeper->requeue_dead_letters("default", {letters[0].id}), 1u);
  auto again = consumer->next(kLongWait);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->message.message_id, message_id(letters[0]));
  consumer->ack(*again);
  // Ids that name none of them are passed over.
  EXPECT_EQ(keeper->requeue_dead_letters("default", {letters[0].id, "no-such-letter"}), 0u);
  EXPECT_EQ(keeper->delete_dead_letters("default", {letters[1].id, "no-such-letter"}), 1u);
  EXPECT_EQ(dead_message_ids(*keeper, {message_id(letters[2])}), std::set<std::string>{message_id(letters[2])});
  // All of them.
  EXPECT_EQ(keeper->requeue_dead_letters("default", {}), 1u);
  again = consumer->next(kLongWait);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->message.message_id, message_id(letters[2]));
  consumer->nack(*again);
  EXPECT_EQ(dead_message_ids(*keeper, {message_id(letters[2])}), std::set<std::string>{message_id(letters[2])});
  EXPECT_EQ(keeper->delete_dead_letters("default", {}), 1u);
  EXPECT_TRUE(keeper->list_dead_letters("default", 100).empty());

  consumer->close();
  broker->flush_all();  // a server shared with the next test starts empty
}

}  // namespace dramatiq::testing
