// Consumes one RabbitMQ queue for a worker: basic.qos with the worker's
// prefetch and basic.consume (the server pushes; nothing polls). The
// consumer's connection has one owner, its I/O thread: it reads
// deliveries, answers heartbeats however long actors run, and writes the
// acks, nacks (reject without requeue: to "<q>.XQ") and requeues of what
// this channel delivered. If the connection breaks, next() raises
// ConnectionClosed and the worker opens a new consumer; settlements for
// the dead channel are dropped (the server redelivers those messages).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dramatiq/consumer.hpp"
#include "rabbitmq/connection.hpp"
#include "rabbitmq/context.hpp"

namespace dramatiq::rabbitmq {

class RabbitmqConsumer : public Consumer {
 public:
  // Connects, declares the queue and starts consuming; throws
  // ConnectionFailed/ConnectionClosed when it cannot.
  RabbitmqConsumer(BrokerContext& context, SettlementQueue& settler, std::string queue, int prefetch);
  ~RabbitmqConsumer() override;

  std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override;
  bool has_buffered() const override { return buffered_ > 0; }
  void ack(MessageProxy& message) override;
  void nack(MessageProxy& message) override;
  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override;
  void close() override;

  // For the settlement transport: has the I/O thread write `pending` on
  // this consumer's channel, and waits until it did (or dropped them with
  // a dead channel).
  void settle(const SettlementQueue::Pending& pending);

 private:
  enum class Fate { Ack, Reject, Requeue };
  struct Settlement {
    std::uint64_t tag;
    Fate fate;
  };
  struct Delivery {
    std::uint64_t tag;
    std::string body;
  };

  void run();
  // Both on the I/O thread.
  void write(const std::vector<Settlement>& settlements);
  // Reads what arrived; returns how many deliveries it buffered.
  std::size_t read_available();
  void submit_locked(std::vector<Settlement> settlements);
  void wake();
  void fail(const std::string& reason);

  BrokerContext& context_;
  SettlementQueue& settler_;
  const std::string queue_;
  const std::string logger_;
  std::unique_ptr<Connection> connection_;  // the I/O thread's once it runs
  std::string lane_;
  int wake_fd_ = -1;

  mutable std::mutex mutex_;
  std::condition_variable delivered_;
  std::condition_variable written_;
  std::deque<Delivery> deliveries_;
  std::atomic<std::size_t> buffered_{0};
  // The I/O thread is (about to be) asleep in poll(): a settlement wakes it
  // at once instead of waiting for the settlement queue's quiet delay,
  // which would cap throughput at prefetch / quiet delay.
  std::atomic<bool> polling_{false};
  std::vector<Settlement> outbox_;
  std::uint64_t submitted_ = 0;  // settlements handed to the I/O thread
  std::uint64_t processed_ = 0;  // ... and written (or dropped)
  std::optional<std::string> error_;  // why the I/O thread ended
  bool stopping_ = false;
  bool closed_ = false;
  std::thread io_;
  // The I/O thread's: tags delivered on this channel and not yet settled
  // (an ack below the oldest of them may go as a multiple ack).
  std::set<std::uint64_t> unsettled_tags_;
};

}  // namespace dramatiq::rabbitmq
