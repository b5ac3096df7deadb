// One broker consumer as a worker's consumer thread uses it.
//
// Every message is settled through the consumer that delivered it: the
// delivery keeps its session (WorkItem::source), and a session outlives
// its consumer thread's use of it. After a pause, a consumer restart or the
// worker's stop the session is retired: it fetches nothing more, and its
// consumer is closed once the last message it delivered is settled or
// requeued (an AMQP channel must stay open for its deliveries' acks; a
// Redis consumer's prefetch count must only see its own).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"

namespace dramatiq {

// How many messages one consumer thread holds delivered and unsettled,
// across its sessions, against its prefetch limit.
class PrefetchWindow {
 public:
  explicit PrefetchWindow(int capacity) : capacity_(std::max(1, capacity)) {}
  int capacity() const { return capacity_; }
  bool full() const;
  // The messages held now.
  int held() const;
  // Whether at most half the window is held.
  bool half_free() const;
  void taken();
  void released(std::size_t count);
  // Waits until at most half the window is held (refilling after every
  // single ack would wake the consumer thread once per message), until
  // `deadline`, or until `stop_waiting()` (checked under the window's lock
  // and again on every interrupt()).
  void wait_for_room(std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& stop_waiting);
  void interrupt();

 private:
  const int capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int held_ = 0;
};

class ConsumerSession {
 public:
  ConsumerSession(std::unique_ptr<Consumer> consumer, std::shared_ptr<PrefetchWindow> window,
                  std::string logger);
  ~ConsumerSession();
  ConsumerSession(const ConsumerSession&) = delete;
  ConsumerSession& operator=(const ConsumerSession&) = delete;

  Consumer& consumer() { return *consumer_; }
  // A message was delivered through this session.
  void delivered();
  // Acks the message (nacks it when it failed) with the ack/nack hooks
  // around it; a connection error is retried until it goes through. A
  // message waiting for such a retry no longer holds a place in the window
  // (as upstream's consumer stops counting it as outstanding), but still
  // keeps the consumer open.
  void settle(Broker& broker, MessageProxy& message);
  // Moves a due delayed message it delivered onto its queue: enqueues
  // `ready` and acks `delayed` in one write where the consumer can
  // (Consumer::enqueue_and_ack), else enqueues, then settles. Throws what
  // the enqueue throws; `delayed` is then still unsettled.
  void move_due(Broker& broker, MessageProxy& delayed, Message ready);
  // Puts delivered-but-unprocessed messages back on the broker.
  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages);
  // Fetches no more; closes the consumer once nothing it delivered is
  // left unsettled (at once if nothing is).
  void retire();

 private:
  // `count` messages were settled, of which `window_count` still held a
  // place in the window.
  void released(std::size_t count, std::size_t window_count);
  void close_consumer();

  std::unique_ptr<Consumer> consumer_;
  std::shared_ptr<PrefetchWindow> window_;
  const std::string logger_;
  std::mutex mutex_;
  std::size_t unsettled_ = 0;
  bool retired_ = false;
  bool closed_ = false;
};

}  // namespace dramatiq
