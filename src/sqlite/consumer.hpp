// Consumes one queue of the embedded broker for a worker: leases due
// messages in batches up to the prefetch limit (the same transaction
// carries the queue's pending acks), and sleeps on the doorbell — or until
// the next delayed message is due — when there is nothing to take.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "dramatiq/consumer.hpp"
#include "sqlite/broker_context.hpp"

namespace dramatiq::sqlite {

class SQLiteConsumer : public Consumer {
 public:
  SQLiteConsumer(BrokerContext& context, std::string queue, int prefetch);
  ~SQLiteConsumer() override;

  std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override;
  // Rings the queue's doorbell slot (a spurious wake-up for other
  // consumers of the slot, harmless): the waiting next() sees the flag.
  void interrupt_wait() override;
  bool has_buffered() const override { return buffered_ > 0; }
  void ack(MessageProxy& message) override;
  void nack(MessageProxy& message) override;
  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override;
  void close() override;

 private:
  struct Fetched {
    std::int64_t id;
    std::string data;
  };
  // Leases up to `wanted` due messages into the buffer; returns how many.
  // Sets next_due_ to the earliest eta of the queue's other waiting
  // messages when it found none due.
  std::size_t fetch(int wanted);
  void requeue_ids(const std::vector<std::int64_t>& ids);

  static constexpr int kMaxFetch = 1000;

  BrokerContext& context_;
  const std::string queue_;
  const int prefetch_;
  const std::string logger_;
  std::mutex mutex_;  // guards the buffer (next vs requeue/close)
  std::deque<Fetched> buffer_;
  std::atomic<std::size_t> buffered_{0};
  std::atomic<int> unsettled_{0};
  std::optional<std::int64_t> next_due_;  // ms since the epoch
  bool closed_ = false;
  std::atomic<bool> interrupted_{false};
  // Error backoff (a full disk, a lock held too long).
  std::chrono::milliseconds retry_delay_{0};
};

}  // namespace dramatiq::sqlite
