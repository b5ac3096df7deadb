// A Worker's record (dramatiq/worker_record.hpp), run against every engine
// broker that keeps them: a worker runs on one broker object while another
// (as a dashboard in another process would) lists the records.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "dramatiq/worker.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

// The first record that satisfies `ready`, once one does (a worker puts a
// fresh one every interval) or kLongWait has passed.
inline std::optional<WorkerRecord> wait_for_record(Broker& lister,
                                                   const std::function<bool(const WorkerRecord&)>& ready) {
  const auto give_up = std::chrono::steady_clock::now() + kLongWait;
  do {
    for (const auto& record : lister.list_worker_records()) {
      if (ready(record)) return record;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the next record comes within an interval
  } while (std::chrono::steady_clock::now() < give_up);
  return std::nullopt;
}

inline void expect_worker_records_follow_the_worker(const std::function<std::shared_ptr<Broker>()>& make) {
  auto broker = make();
  auto lister = make();
  ASSERT_TRUE(broker->keeps_worker_records());
  Latch started;
  Latch release;
  broker->declare_actor(make_actor("blocks", [&](const Array&, const Object&) {
    started.open();
    release.wait();
    return Value();
  }));
  EXPECT_TRUE(lister->list_worker_records().empty());
  const std::int64_t before = current_millis();
  auto worker = std::make_unique<Worker>(broker, WorkerOptions{std::nullopt, 50, 2});
  worker->start();
  Message sent = broker->enqueue(make_message("blocks", {}));
  ASSERT_TRUE(started.wait());

  auto busy = wait_for_record(*lister, [](const WorkerRecord& record) { return !record.running.empty(); });
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->pid, static_cast<std::int64_t>(::getpid()));
  EXPECT_FALSE(busy->hostname.empty());
  EXPECT_EQ(busy->worker_threads, 2);
  EXPECT_GE(busy->started_at_ms, before);
  EXPECT_GT(busy->expires_at_ms, busy->heartbeat_at_ms);
  EXPECT_NE(std::find(busy->queues.begin(), busy->queues.end(), "default"), busy->queues.end());
  ASSERT_EQ(busy->running.size(), 1u);
  EXPECT_EQ(busy->running[0].message_id, sent.message_id);
  EXPECT_EQ(busy->running[0].actor_name, "blocks");
  EXPECT_EQ(busy->running[0].queue_name, "default");
  EXPECT_GE(busy->running[0].started_at_ms, before);
  EXPECT_EQ(busy->processed, 0);
  // The running message is held on its queue.
  auto held = std::find_if(busy->held.begin(), busy->held.end(), [](const auto& h) { return h.first == "default"; });
  ASSERT_NE(held, busy->held.end());
  EXPECT_EQ(held->second, 1);

  release.open();
  // The timings of the finished message come in one record, which may be
  // the last one before processed reaches 1 or the first one after.
  std::vector<std::int64_t> durations, waits;
  std::int64_t last_heartbeat = 0;
  auto idle = wait_for_record(*lister, [&](const WorkerRecord& record) {
    if (record.heartbeat_at_ms != last_heartbeat) {
      last_heartbeat = record.heartbeat_at_ms;
      durations.insert(durations.end(), record.recent_durations_ms.begin(), record.recent_durations_ms.end());
      waits.insert(waits.end(), record.recent_waits_ms.begin(), record.recent_waits_ms.end());
    }
    return record.processed == 1 && !durations.empty();
  });
  ASSERT_TRUE(idle.has_value());
  EXPECT_EQ(idle->worker_id, busy->worker_id);
  EXPECT_TRUE(idle->running.empty());
  EXPECT_EQ(idle->failed, 0);
  ASSERT_EQ(durations.size(), 1u);
  ASSERT_EQ(waits.size(), 1u);
  // In ms: it ran no longer than from its start to when the record was made.
  EXPECT_GE(durations[0], 0);
  EXPECT_LE(durations[0], idle->heartbeat_at_ms - busy->running[0].started_at_ms);
  EXPECT_GE(waits[0], 0);
  EXPECT_LE(waits[0], busy->running[0].started_at_ms - sent.message_timestamp);

  worker->stop(kLongWait);
  EXPECT_TRUE(lister->list_worker_records().empty());  // removed when it stopped
  worker.reset();
  broker->flush_all();
}

// A record past its expiry is not listed (a worker that died without
// removing its own).
inline void expect_expired_worker_records_not_listed(const std::function<std::shared_ptr<Broker>()>& make) {
  auto broker = make();
  WorkerRecord gone;
  gone.worker_id = "gone";
  gone.hostname = "elsewhere";
  gone.heartbeat_at_ms = current_millis() - 10000;
  gone.expires_at_ms = current_millis() - 1;
  WorkerRecord alive = gone;
  alive.worker_id = "alive";
  alive.expires_at_ms = current_millis() + 60000;
  broker->put_worker_record(gone);
  broker->put_worker_record(alive);
  auto records = make()->list_worker_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].worker_id, "alive");
  broker->remove_worker_record("alive");
  EXPECT_TRUE(broker->list_worker_records().empty());
}

}  // namespace dramatiq::testing
