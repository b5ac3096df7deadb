// A broker written the way a new one is: transport code only, on the
// Broker base. This one keeps delayed messages itself, by due time
// (BrokerTraits::schedules_delays), instead of a ".DQ" queue the worker
// consumes — as an embedded broker with a due-time column would.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "dramatiq/broker.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/worker.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

class DueTimeBroker : public Broker {
 public:
  DueTimeBroker() : Broker(BrokerTraits{.schedules_delays = true}) {}

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int /*prefetch*/) override {
    std::lock_guard lock(mutex_);
    consumed_.insert(queue_name);
    return std::make_unique<DueTimeConsumer>(*this, queue_name);
  }
  void flush(const std::string& queue_name) override {
    std::lock_guard lock(mutex_);
    rows_[queue_name].clear();
  }
  void flush_all() override {
    std::lock_guard lock(mutex_);
    rows_.clear();
  }
  std::set<std::string> consumed() const {
    std::lock_guard lock(mutex_);
    return consumed_;
  }
  std::vector<std::string> stored(const std::string& queue_name) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> bytes;
    auto it = rows_.find(queue_name);
    if (it != rows_.end()) {
      for (const auto& row : it->second) bytes.push_back(row.bytes);
    }
    return bytes;
  }

 protected:
  void do_declare_queue(const std::string& queue_name) override {
    std::lock_guard lock(mutex_);
    rows_[queue_name];
  }
  void do_enqueue(const std::string& queue_name, const Message& message) override {
    const Value* eta = message.options.find("eta");
    std::int64_t due = eta ? static_cast<std::int64_t>(eta->as_number()) : 0;
    {
      std::lock_guard lock(mutex_);
      rows_[queue_name].push_back(Row{due, next_id_++, get_encoder()->encode(message)});
    }
    changed_.notify_all();
  }
  std::size_t count_unfinished(const std::string& queue_name) override {
    std::lock_guard lock(mutex_);
    return rows_[queue_name].size() + leased_[queue_name];
  }
  void wait_for_settlement(const std::string& queue_name, std::chrono::steady_clock::time_point deadline,
                           std::chrono::milliseconds) override {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return rows_[queue_name].empty() && leased_[queue_name] == 0; });
  }

 private:
  struct Row {
    std::int64_t due;
    std::uint64_t id;
    std::string bytes;
  };

  class DueTimeConsumer : public Consumer {
   public:
    DueTimeConsumer(DueTimeBroker& broker, std::string queue_name)
        : broker_(broker), queue_name_(std::move(queue_name)) {}
    std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override {
      auto deadline = std::chrono::steady_clock::now() + timeout;
      std::unique_lock lock(broker_.mutex_);
      while (true) {
        auto& rows = broker_.rows_[queue_name_];
        auto due = std::min_element(rows.begin(), rows.end(),
                                    [](const Row& a, const Row& b) { return a.due < b.due; });
        std::int64_t now = current_millis();
        if (due != rows.end() && due->due <= now) {
          Row row = std::move(*due);
          rows.erase(due);
          broker_.leased_[queue_name_] += 1;
          return decode_delivery(queue_name_, std::move(row.bytes), std::to_string(row.id));
        }
        auto wake = deadline;
        if (due != rows.end()) {
          wake = std::min(wake, std::chrono::steady_clock::now() + std::chrono::milliseconds(due->due - now));
        }
        if (broker_.changed_.wait_until(lock, wake) == std::cv_status::timeout &&
            std::chrono::steady_clock::now() >= deadline) {
          return nullptr;
        }
      }
    }
    void ack(MessageProxy&) override { settle(); }
    void nack(MessageProxy&) override { settle(); }
    void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override {
      for (const auto& message : messages) {
        std::lock_guard lock(broker_.mutex_);
        broker_.rows_[queue_name_].push_back(Row{0, broker_.next_id_++, message->raw.empty()
                                                     ? get_encoder()->encode(message->message)
                                                     : message->raw});
        broker_.leased_[queue_name_] -= 1;
      }
      broker_.changed_.notify_all();
    }

   private:
    void settle() {
      {
        std::lock_guard lock(broker_.mutex_);
        broker_.leased_[queue_name_] -= 1;
      }
      broker_.changed_.notify_all();
    }
    DueTimeBroker& broker_;
    std::string queue_name_;
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::deque<Row>> rows_;
  std::map<std::string, std::size_t> leased_;
  std::set<std::string> consumed_;
  std::uint64_t next_id_ = 0;
};

// Records each message it runs, and whether any still carried an eta.
class RecordingOptionsBody : public ActorBody {
 public:
  RecordingOptionsBody(Calls& calls, bool& saw_eta) : calls_(calls), saw_eta_(saw_eta) {}
  Value run(MessageProxy& message) override {
    if (message.message.options.contains("eta")) saw_eta_ = true;
    return calls_.record(message.message);
  }

 private:
  Calls& calls_;
  bool& saw_eta_;
};

}  // namespace

TEST(BrokerTraits, ABrokerThatSchedulesDelaysDeclaresNoDelayQueues) {
  DueTimeBroker broker;
  broker.declare_queue("default");
  EXPECT_EQ(broker.get_declared_queues(), (std::set<std::string>{"default"}));
  EXPECT_TRUE(broker.get_declared_delay_queues().empty());
}

TEST(BrokerTraits, DelayedMessagesKeepTheirQueueAndCarryTheirDueTime) {
  DueTimeBroker broker;
  broker.declare_queue("default");
  std::int64_t before = current_millis();
  Message stored = broker.enqueue(make_message("noop", {}), 60000);
  EXPECT_EQ(stored.queue_name, "default");
  ASSERT_NE(stored.options.find("eta"), nullptr);
  EXPECT_GE(stored.options.find("eta")->as_number(), static_cast<double>(before + 60000));
  EXPECT_EQ(broker.stored("default").size(), 1u);
}

TEST(BrokerTraits, WorkerRunsADelayedMessageOnceDueWithoutADelayQueue) {
  auto broker = std::make_shared<DueTimeBroker>();
  Calls calls;
  bool saw_eta = false;
  broker->declare_actor(make_actor("later", std::make_shared<RecordingOptionsBody>(calls, saw_eta)));
  Worker worker(broker, WorkerOptions{std::nullopt, 50, 2});
  worker.start();
  std::int64_t sent_at = current_millis();
  broker->enqueue(make_message("later", {Value(1)}), 200);
  broker->enqueue(make_message("later", {Value(0)}));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  auto messages = calls.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].args.as_array()[0].as_int(), 0);  // the undelayed one first
  EXPECT_EQ(messages[1].args.as_array()[0].as_int(), 1);
  EXPECT_GE(calls.ran_at()[1], sent_at + 200);
  EXPECT_EQ(broker->consumed(), (std::set<std::string>{"default"}));
  EXPECT_FALSE(saw_eta);  // delivered once due, the eta is the broker's business
}
