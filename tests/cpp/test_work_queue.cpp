// The worker's work queue on its own: order, idle timeout, pausing,
// closing, wake-ups (including the stale-work watcher) and draining.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "test_support.hpp"
#include "worker/work_queue.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

WorkItem item(int priority, const std::string& id) {
  auto message = std::make_shared<MessageProxy>();
  message->message.message_id = id;
  return WorkItem{priority, std::move(message), nullptr};
}

std::string id_of(const std::optional<WorkItem>& taken) {
  return taken ? taken->message->message.message_id : "<none>";
}

// A take() on another thread, so a test can wait for it with a bound.
std::future<std::optional<WorkItem>> take_async(WorkQueue& queue) {
  return std::async(std::launch::async, [&queue] { return queue.take(); });
}

}  // namespace

TEST(WorkQueue, LowerPriorityFirstThenArrivalOrder) {
  WorkQueue queue(1, false, 1000ms);
  queue.push(item(5, "late-low"));
  queue.push(item(0, "first-high"));
  queue.push(item(5, "later-low"));
  queue.push(item(0, "second-high"));
  EXPECT_EQ(id_of(queue.take()), "first-high");
  EXPECT_EQ(id_of(queue.take()), "second-high");
  EXPECT_EQ(id_of(queue.take()), "late-low");
  EXPECT_EQ(id_of(queue.take()), "later-low");
}

TEST(WorkQueue, TakeReturnsNothingAfterTheIdleTimeout) {
  WorkQueue queue(1, false, 20ms);
  EXPECT_FALSE(queue.take().has_value());
  EXPECT_FALSE(queue.closed());
}

TEST(WorkQueue, BeforeSleepRunsOnlyWhenNothingIsQueued) {
  WorkQueue queue(1, false, 20ms);
  int yields = 0;
  queue.push(item(0, "ready"));
  EXPECT_EQ(id_of(queue.take([&] { yields += 1; })), "ready");
  EXPECT_EQ(yields, 0);
  EXPECT_FALSE(queue.take([&] { yields += 1; }).has_value());
  EXPECT_EQ(yields, 1);
}

TEST(WorkQueue, ClosingWakesASleepingTaker) {
  WorkQueue queue(1, false, 60000ms);
  auto taken = take_async(queue);
  queue.close();
  ASSERT_EQ(taken.wait_for(kLongWait), std::future_status::ready);
  EXPECT_FALSE(taken.get().has_value());
  EXPECT_TRUE(queue.closed());
}

TEST(WorkQueue, APushWakesTheThreadWhenEveryThreadSleeps) {
  WorkQueue queue(1, false, 60000ms);
  auto taken = take_async(queue);
  queue.push(item(0, "wake"));
  queue.wake_for_work();
  ASSERT_EQ(taken.wait_for(kLongWait), std::future_status::ready);
  EXPECT_EQ(id_of(taken.get()), "wake");
}

// Two threads sleep; two items arrive with one wake-up. The first thread
// takes one and never comes back (a long actor): the second must still get
// the other, through the watcher, without a second wake-up.
TEST(WorkQueue, QueuedWorkDoesNotWaitForABusyThread) {
  WorkQueue queue(2, false, 60000ms);
  auto first = take_async(queue);
  auto second = take_async(queue);
  queue.push(item(0, "a"));
  queue.push(item(0, "b"));
  queue.wake_for_work();
  ASSERT_EQ(first.wait_for(kLongWait), std::future_status::ready);
  ASSERT_EQ(second.wait_for(kLongWait), std::future_status::ready);
  std::set<std::string> ids{id_of(first.get()), id_of(second.get())};
  EXPECT_EQ(ids, (std::set<std::string>{"a", "b"}));
}

// An awake thread keeps taking (quick actors, pushed and taken one by one)
// while two items of lower priority wait: the sleepers must still be woken
// for them. Work that waited a whole watcher period is stale even though
// takes happened meanwhile (actors waiting on I/O release the GIL and leave
// threads idle that should run queued messages).
TEST(WorkQueue, WorkWaitingBehindABusyTakerWakesSleepers) {
  // A long watcher period, so that the churning thread surely takes
  // something in every period (its takes must not hide the waiting work).
  WorkQueue queue(3, false, 60000ms, WorkQueueTuning{.stale_work_check = 200ms});
  auto first = take_async(queue);
  auto second = take_async(queue);
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (queue.sleepers() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(queue.sleepers(), 2);
  queue.push(item(10, "waiting-1"));
  queue.push(item(10, "waiting-2"));
  auto ready = [](auto& taken) { return taken.wait_for(0ms) == std::future_status::ready; };
  std::multiset<std::string> taken;
  while (!(ready(first) && ready(second)) && std::chrono::steady_clock::now() < deadline) {
    queue.push(item(0, "quick"));
    taken.insert(id_of(queue.take()));
    queue.done();
  }
  ASSERT_TRUE(ready(first) && ready(second)) << "after " << taken.size() << " items taken meanwhile";
  taken.insert(id_of(first.get()));
  taken.insert(id_of(second.get()));
  for (auto& left : queue.take_all()) taken.insert(left.message->message.message_id);
  EXPECT_EQ(taken.count("waiting-1"), 1u);
  EXPECT_EQ(taken.count("waiting-2"), 1u);
}

TEST(WorkQueue, PausedTakersParkUntilResumed) {
  WorkQueue queue(1, false, 60000ms);
  queue.push(item(0, "held"));
  queue.set_paused(true);
  auto parked = take_async(queue);
  ASSERT_TRUE(queue.wait_until_parked(1));
  EXPECT_EQ(parked.wait_for(0ms), std::future_status::timeout);
  queue.set_paused(false);
  ASSERT_EQ(parked.wait_for(kLongWait), std::future_status::ready);
  EXPECT_FALSE(parked.get().has_value());  // a resumed taker comes back for work
  EXPECT_EQ(id_of(queue.take()), "held");
}

// One thread paused alone parks; a push then wakes the other (the paused
// one does not swallow the wake-up), and the paused one takes work again
// once resumed.
TEST(WorkQueue, AThreadPausedAloneParksWhileTheOtherTakesWork) {
  WorkQueue queue(2, false, 60000ms);
  queue.pause_slot(0);
  auto parked = std::async(std::launch::async, [&] { return queue.take({}, 0); });
  ASSERT_TRUE(queue.wait_slot_parked(0, kLongWait));
  auto working = std::async(std::launch::async, [&] { return queue.take({}, 1); });
  queue.push(item(0, "for the other"));
  queue.wake_for_work();
  ASSERT_EQ(working.wait_for(kLongWait), std::future_status::ready);
  EXPECT_EQ(id_of(working.get()), "for the other");
  EXPECT_EQ(parked.wait_for(0ms), std::future_status::timeout);
  EXPECT_FALSE(queue.wait_slot_parked(1, 0ms));

  queue.resume_slot(0);
  ASSERT_EQ(parked.wait_for(kLongWait), std::future_status::ready);
  EXPECT_FALSE(parked.get().has_value());  // a resumed taker comes back for work
  queue.push(item(0, "for the resumed"));
  EXPECT_EQ(id_of(queue.take({}, 0)), "for the resumed");
}

TEST(WorkQueue, ClosingEndsAWaitForParkedThreads) {
  WorkQueue queue(2, false, 60000ms);
  queue.set_paused(true);
  auto waiter = std::async(std::launch::async, [&] { return queue.wait_until_parked(2); });
  queue.close();
  ASSERT_EQ(waiter.wait_for(kLongWait), std::future_status::ready);
  EXPECT_FALSE(waiter.get());
}

TEST(WorkQueue, DrainedOnlyOnceTakenItemsAreDone) {
  WorkQueue queue(1, false, 1000ms);
  EXPECT_TRUE(queue.wait_drained(0ms));
  queue.push(item(0, "one"));
  EXPECT_FALSE(queue.wait_drained(0ms));
  ASSERT_TRUE(queue.take().has_value());
  EXPECT_FALSE(queue.wait_drained(0ms));  // taken, still being processed
  auto drained = std::async(std::launch::async, [&] { return queue.wait_drained(std::nullopt); });
  queue.done();
  ASSERT_EQ(drained.wait_for(kLongWait), std::future_status::ready);
  EXPECT_TRUE(drained.get());
}

TEST(WorkQueue, TakeAllEmptiesTheQueueInOrder) {
  WorkQueue queue(1, false, 1000ms);
  queue.push(item(1, "second"));
  queue.push(item(0, "first"));
  queue.push(item(1, "third"));
  auto all = queue.take_all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message->message.message_id, "first");
  EXPECT_EQ(all[1].message->message.message_id, "second");
  EXPECT_EQ(all[2].message->message.message_id, "third");
  EXPECT_EQ(queue.queued(), 0u);
  EXPECT_TRUE(queue.wait_drained(0ms));
}

TEST(WorkQueue, SpinningTakerGetsAnItemPushedWithoutAWakeUp) {
  // With spin on, a push while a thread spins needs no wake-up: the
  // spinning thread sees it (wake_for_work returns at once meanwhile).
  WorkQueue queue(1, true, 60000ms, WorkQueueTuning{std::chrono::microseconds(2000000), 1ms});
  auto taken = take_async(queue);
  queue.push(item(0, "spun"));
  queue.wake_for_work();
  ASSERT_EQ(taken.wait_for(kLongWait), std::future_status::ready);
  EXPECT_EQ(id_of(taken.get()), "spun");
}
