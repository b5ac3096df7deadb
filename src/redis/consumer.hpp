// Consumes one Redis queue for a worker: fetches in batches up to the
// prefetch limit, waits for producers' wake-up signals instead of polling,
// and reconnects by itself when the server goes away.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "dramatiq/broker.hpp"
#include "redis/context.hpp"
#include "redis/settler.hpp"

namespace dramatiq::redis {

class RedisConsumer : public Consumer {
 public:
  RedisConsumer(BrokerContext& context, SettlementQueue& settler, std::string queue, int prefetch);
  ~RedisConsumer() override;

  std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) override;
  bool has_buffered() const override { return buffered_ > 0; }
  void ack(MessageProxy& message) override;
  void nack(MessageProxy& message) override;
  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override;
  bool enqueues_and_acks() const override { return true; }
  void enqueue_and_ack(const Message& message, MessageProxy& delivered) override;
  void close() override;
  void interrupt_wait() override;

 private:
  struct Fetched {
    std::string id;
    std::string data;
  };
  std::shared_ptr<MessageProxy> deliver(Fetched fetched);
  void connect();
  // Takes up to `wanted` messages into the local buffer; returns how many.
  std::size_t fetch(int wanted);
  // Waits for a producer's signal until the deadline; true if one came.
  bool wait_for_wakeup(std::chrono::steady_clock::time_point deadline);
  void disconnect_after(const std::exception& error);
  // After a reconnection: requeues ids in this broker's ack set that no
  // delivery holds (their fetch reply was lost with the connection).
  void return_strays();
  void requeue_ids(std::vector<std::string> ids);
  // Clears a pending interrupt_wait(); true if there was one.
  bool take_interruption();

  static constexpr int kMaxFetch = 1000;

  BrokerContext& context_;
  SettlementQueue& settler_;
  std::string queue_;
  int prefetch_;
  const std::string logger_;

  std::mutex mutex_;  // guards the connections and buffer (next vs requeue/close)
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<Connection> subscription_;
  std::deque<Fetched> buffer_;
  std::atomic<std::size_t> buffered_{0};  // buffer_.size(), readable without the lock
  std::atomic<int> unsettled_{0};  // delivered and not yet acked, nacked or requeued
  bool closed_ = false;

  // Reconnection backoff.
  std::chrono::steady_clock::time_point reconnect_at_{};
  std::chrono::milliseconds reconnect_delay_{0};
  bool disconnected_ = false;

  // An eventfd: interrupt_wait() makes it readable, which ends the wait
  // for a wake-up signal or a reconnection at once.
  int wake_fd_ = -1;
};

}  // namespace dramatiq::redis
