#include "worker/consumer_session.hpp"

#include <thread>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
constexpr auto kSettleRetryDelay = std::chrono::seconds(5);
}

bool PrefetchWindow::full() const {
  std::lock_guard lock(mutex_);
  return held_ >= capacity_;
}

int PrefetchWindow::held() const {
  std::lock_guard lock(mutex_);
  return held_;
}

bool PrefetchWindow::half_free() const {
  std::lock_guard lock(mutex_);
  return held_ <= capacity_ / 2;
}

void PrefetchWindow::taken() {
  std::lock_guard lock(mutex_);
  held_ += 1;
}

void PrefetchWindow::released(std::size_t count) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    int before = held_;
    held_ -= static_cast<int>(count);
    wake = before > capacity_ / 2 && held_ <= capacity_ / 2;
  }
  if (wake) changed_.notify_all();
}

void PrefetchWindow::wait_for_room(std::chrono::steady_clock::time_point deadline,
                                   const std::function<bool()>& stop_waiting) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return held_ <= capacity_ / 2 || stop_waiting(); });
}

void PrefetchWindow::interrupt() {
  // Taking the lock orders this with a waiter's check of stop_waiting().
  { std::lock_guard lock(mutex_); }
  changed_.notify_all();
}

ConsumerSession::ConsumerSession(std::unique_ptr<Consumer> consumer,
                                 std::shared_ptr<PrefetchWindow> window, std::string logger)
    : consumer_(std::move(consumer)), window_(std::move(window)), logger_(std::move(logger)) {}

ConsumerSession::~ConsumerSession() { close_consumer(); }

void ConsumerSession::delivered() {
  {
    std::lock_guard lock(mutex_);
    unsettled_ += 1;
  }
  window_->taken();
}

void ConsumerSession::settle(Broker& broker, MessageProxy& message) {
  bool left_window = false;
  while (true) {
    try {
      if (message.failed) {
        broker.emit_before("before_nack", [&](Middleware& m) { m.before_nack(broker, message); });
        consumer_->nack(message);
        broker.emit_after("after_nack", [&](Middleware& m) { m.after_nack(broker, message); });
      } else {
        broker.emit_before("before_ack", [&](Middleware& m) { m.before_ack(broker, message); });
        consumer_->ack(message);
        broker.emit_after("after_ack", [&](Middleware& m) { m.after_ack(broker, message); });
      }
      break;
    } catch (const BrokerConnectionError& e) {
      log::write(log::Level::Warning, logger_,
                 "Failed to post_process_message(" + message.message.describe() +
                     ") due to a connection error: " + e.what() + ". Retrying in 5 seconds.");
      if (!left_window) {
        window_->released(1);
        left_window = true;
      }
      std::this_thread::sleep_for(kSettleRetryDelay);
    } catch (const std::exception& e) {
      log::write(log::Level::Error, logger_,
                 "Unhandled error during post_process_message(" + message.message.describe() +
                     "): " + e.what());
      break;
    }
  }
  released(1, left_window ? 0 : 1);
}

void ConsumerSession::move_due(Broker& broker, MessageProxy& delayed, Message ready) {
  // A host enqueue (Python code overriding enqueue) must store every
  // enqueue itself: then the ack follows the enqueue.
  if (!consumer_->enqueues_and_acks() || delayed.failed || broker.has_host_enqueue()) {
    broker.enqueue(std::move(ready));
    settle(broker, delayed);
    return;
  }
  broker.enqueue_stored_by(std::move(ready), [&](const Message& message) {
    broker.emit_before("before_ack", [&](Middleware& m) { m.before_ack(broker, delayed); });
    consumer_->enqueue_and_ack(message, delayed);
  });
  broker.emit_after("after_ack", [&](Middleware& m) { m.after_ack(broker, delayed); });
  released(1, 1);
}

void ConsumerSession::requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) {
  if (messages.empty()) return;
  try {
    consumer_->requeue(messages);
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_,
               "Failed to requeue " + std::to_string(messages.size()) + " message(s): " + e.what());
  }
  released(messages.size(), messages.size());
}

void ConsumerSession::released(std::size_t count, std::size_t window_count) {
  bool close;
  {
    std::lock_guard lock(mutex_);
    unsettled_ -= std::min(count, unsettled_);
    close = retired_ && unsettled_ == 0;
  }
  if (window_count > 0) window_->released(window_count);
  if (close) close_consumer();
}

void ConsumerSession::retire() {
  bool close;
  {
    std::lock_guard lock(mutex_);
    retired_ = true;
    close = unsettled_ == 0;
  }
  if (close) close_consumer();
}

void ConsumerSession::close_consumer() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  try {
    consumer_->close();
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_, std::string("Failed to close a consumer: ") + e.what());
  }
}

}  // namespace dramatiq
