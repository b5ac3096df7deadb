// A worker's consumer thread for one queue: pulls messages off the broker
// within its prefetch window, dead-letters what cannot run (undecodable
// bytes, unknown actors) with the reason logged, holds delayed messages
// until they are due, and pushes the rest to the work queue with their
// actor and consumer session.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/worker.hpp"
#include "worker/consumer_session.hpp"
#include "worker/work_queue.hpp"

namespace dramatiq {

class ConsumerThread {
 public:
  struct Context {
    Broker& broker;
    WorkQueue& work;
    const ThreadHooks& hooks;
    std::chrono::milliseconds fetch_timeout;  // the worker timeout
    std::chrono::milliseconds restart_delay;  // after the consumer failed
    std::function<void()> booted;             // called once the boot hooks ran
  };

  // `delay`: a delay queue's consumer (its messages are held, not run).
  ConsumerThread(Context context, std::string queue_name, int prefetch, bool delay);
  ~ConsumerThread();
  ConsumerThread(const ConsumerThread&) = delete;
  ConsumerThread& operator=(const ConsumerThread&) = delete;

  void start();
  void stop();
  void join();
  void set_paused(bool paused);
  // Whether the thread noticed the pause (its session is retired).
  bool is_paused_acknowledged() const { return paused_ack_; }
  const std::string& queue_name() const { return queue_name_; }
  // Delayed messages held, or being moved to their queue and acked.
  std::size_t delayed_count() const;
  // Messages delivered and not settled yet, across its sessions (upstream's
  // consumer's outstanding_message_count).
  std::size_t outstanding_count() const { return static_cast<std::size_t>(window_->held()); }
  // Fetches one message for a worker thread that ran out of queued work
  // (in-process brokers, see WorkQueue's spin_fetch); true if one was
  // handled. Never for a delay queue, never while this thread fetches.
  bool fetch_for_worker();
  // Puts the delayed messages it holds back on the broker (at stop).
  void requeue_held();

 private:
  struct DelayedItem {
    std::int64_t eta;
    std::uint64_t sequence;
    std::shared_ptr<MessageProxy> message;
    std::shared_ptr<ConsumerSession> source;
    bool operator>(const DelayedItem& other) const {
      return eta != other.eta ? eta > other.eta : sequence > other.sequence;
    }
  };

  void run();
  void consume_loop();
  void handle_message(std::shared_ptr<MessageProxy> message,
                      const std::shared_ptr<ConsumerSession>& session);
  // Handles, without waiting, what the consumer already holds (a fetched
  // batch; an in-process broker's queue) while the window has room: with
  // the message just fetched, one batch for the work queue.
  void take_available(const std::shared_ptr<ConsumerSession>& session);
  void handle_delayed_messages();
  // How long to wait for the next delivery: the fetch timeout, or less when
  // a delayed message comes due sooner.
  std::chrono::milliseconds next_wait() const;
  void reject_undeliverable(MessageProxy& message, ConsumerSession& session,
                            const std::string& type_name, const std::string& reason);
  bool should_run() const { return running_ && !paused_; }

  Context context_;
  const std::string queue_name_;
  const std::string logger_;  // upstream names it "dramatiq.worker.ConsumerThread(<queue>)"
  const int prefetch_;
  const bool delay_;
  const ThreadInfo info_;
  std::shared_ptr<PrefetchWindow> window_;
  std::thread thread_;

  // Held from taking a message off the broker until it is handled, so that
  // worker threads fetching too keep the broker's order.
  std::mutex fetch_mutex_;
  mutable std::mutex mutex_;  // guards delayed_, session_; running_/paused_ change under it
  std::condition_variable wake_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> paused_ack_{false};
  std::priority_queue<DelayedItem, std::vector<DelayedItem>, std::greater<>> delayed_;
  std::uint64_t delayed_sequence_ = 0;
  std::size_t moving_delayed_ = 0;  // taken off delayed_, their ack not yet done
  std::shared_ptr<ConsumerSession> session_;  // the one consume_loop fetches through
};

}  // namespace dramatiq
