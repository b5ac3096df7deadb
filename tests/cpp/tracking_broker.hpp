// A broker of any kind whose consumers report what they do, for tests of
// the layers above brokers against every engine broker:
// - each delivery and settlement by message id and consumer instance, and
//   whether a consumer was closed before a message it delivered was settled;
// - hand-overs: a worker's consumer thread finishes handling a delivery
//   (pushing it onto the work queue, or holding it until its eta) before it
//   asks for the next, so re-entering next() proves every earlier delivery
//   of that queue was handed over — tests arrange the work queue without
//   sleeping;
// - fail_next_fetch(): the queue's next next() throws, as a broken consumer
//   does, so the consumer thread restarts it.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"
#include "test_support.hpp"

namespace dramatiq::testing {

struct DeliveryRecord {
  std::vector<int> delivered_by;  // consumer numbers, in order
  std::vector<int> settled_by;    // acked, nacked or requeued through
  bool settled_after_close = false;
};

template <class Base>
class TrackingBroker : public Base {
 public:
  using Base::Base;

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override {
    int number;
    {
      std::lock_guard lock(mutex_);
      number = ++consumers_opened_;
      opened_by_queue_[queue_name] += 1;
    }
    cv_.notify_all();
    return std::make_unique<TrackingConsumer>(*this, Base::consume(queue_name, prefetch), queue_name,
                                              number);
  }

  // Waits until `count` deliveries of `queue_name` have been handed over.
  bool wait_handed_over(const std::string& queue_name, int count,
                        std::chrono::milliseconds timeout = kLongWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return handed_over_[queue_name] >= count; });
  }
  // Waits until `count` messages of `queue_name` have been delivered.
  bool wait_delivered(const std::string& queue_name, int count,
                      std::chrono::milliseconds timeout = kLongWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return delivered_[queue_name] >= count; });
  }
  // Waits until `count` consumers of `queue_name` were opened in all.
  bool wait_consumers_opened(const std::string& queue_name, int count,
                             std::chrono::milliseconds timeout = kLongWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return opened_by_queue_[queue_name] >= count; });
  }
  // Waits until every consumer opened so far was closed.
  bool wait_all_closed(std::chrono::milliseconds timeout = kLongWait) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return closed_.size() == static_cast<std::size_t>(consumers_opened_); });
  }
  void fail_next_fetch(const std::string& queue_name) {
    std::lock_guard lock(mutex_);
    fail_next_.insert(queue_name);
  }
  std::map<std::string, DeliveryRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  int consumers_opened(const std::string& queue_name) const {
    std::lock_guard lock(mutex_);
    auto it = opened_by_queue_.find(queue_name);
    return it == opened_by_queue_.end() ? 0 : it->second;
  }

 private:
  class TrackingConsumer : public Consumer {
   public:
    TrackingConsumer(TrackingBroker& broker, std::unique_ptr<Consumer> inner, std::string queue_name,
                     int number)
        : broker_(broker), inner_(std::move(inner)), queue_name_(std::move(queue_name)),
          number_(number) {}
    std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override {
      if (broker_.entered_next(queue_name_)) throw std::runtime_error("consumer failure forced by the test");
      auto message = inner_->next(timeout);
      if (message) broker_.delivered(queue_name_, *message, number_);
      return message;
    }
    bool has_buffered() const override { return inner_->has_buffered(); }
    void ack(MessageProxy& m) override {
      broker_.settled(m, number_);
      inner_->ack(m);
    }
    void nack(MessageProxy& m) override {
      broker_.settled(m, number_);
      inner_->nack(m);
    }
    void requeue(const std::vector<std::shared_ptr<MessageProxy>>& ms) override {
      for (auto& m : ms) broker_.settled(*m, number_);
      inner_->requeue(ms);
    }
    void close() override {
      inner_->close();
      broker_.closed(number_);
    }

   private:
    TrackingBroker& broker_;
    std::unique_ptr<Consumer> inner_;
    std::string queue_name_;
    int number_;
  };

  // True when this fetch is to fail.
  bool entered_next(const std::string& queue_name) {
    bool fail;
    {
      std::lock_guard lock(mutex_);
      handed_over_[queue_name] = delivered_[queue_name];
      fail = fail_next_.erase(queue_name) > 0;
    }
    cv_.notify_all();
    return fail;
  }
  void delivered(const std::string& queue_name, const MessageProxy& m, int number) {
    {
      std::lock_guard lock(mutex_);
      delivered_[queue_name] += 1;
      records_[m.message.message_id].delivered_by.push_back(number);
    }
    cv_.notify_all();
  }
  void settled(const MessageProxy& m, int number) {
    std::lock_guard lock(mutex_);
    auto& record = records_[m.message.message_id];
    record.settled_by.push_back(number);
    if (closed_.count(number)) record.settled_after_close = true;
  }
  void closed(int number) {
    {
      std::lock_guard lock(mutex_);
      closed_.insert(number);
    }
    cv_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int consumers_opened_ = 0;
  std::map<std::string, int> opened_by_queue_;
  std::map<std::string, int> delivered_;
  std::map<std::string, int> handed_over_;
  std::set<std::string> fail_next_;
  std::set<int> closed_;
  std::map<std::string, DeliveryRecord> records_;
};

}  // namespace dramatiq::testing
