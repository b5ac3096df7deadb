// Each schedule's last tick on RabbitMQ, for Broker::enqueue_tick.
//
// RabbitMQ has no compare-and-set, so a schedule gets a lock and a record:
// - the lock is an exclusive queue, "<prefix><schedule>.lock": RabbitMQ lets
//   one connection at a time declare it (the others get RESOURCE_LOCKED)
//   and deletes it when that connection goes away, so a scheduler that dies
//   holding it never blocks the others;
// - the record is a durable queue, "<prefix><schedule>", holding one message:
//   the last tick, in milliseconds, as text. Only the lock's holder takes it
//   (basic.get) and puts it back.
// Holding the lock, a scheduler reads the record and, if the tick is later,
// publishes the tick's message, publishes the new record and acks the old
// one in one AMQP transaction (tx.select/tx.commit): a connection lost
// before the commit leaves the old record to be redelivered and no message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "rabbitmq/connection.hpp"
#include "rabbitmq/publisher.hpp"

namespace dramatiq::rabbitmq {

class TickRecords {
 public:
  static constexpr const char* kQueuePrefix = "dramatiq.__schedules__.";

  explicit TickRecords(const RabbitmqBrokerOptions& options) : options_(options) {}

  // The schedule's last tick, or nullopt if it never ticked.
  std::optional<std::int64_t> last_tick(const std::string& schedule);
  // Publishes `message` and records `tick_ms` if it is later than the last
  // tick; false (nothing published) otherwise. `prepare` runs on the
  // connection first (to declare the message's queue).
  bool store_if_later(const std::string& schedule, std::int64_t tick_ms, const Publication& message,
                      const std::function<void(Connection&)>& prepare);
  void close();

 private:
  struct Record {
    std::optional<std::int64_t> tick;
    std::uint64_t delivery_tag = 0;  // 0: there was none
  };
  // Runs `step` holding the schedule's lock, on a transactional channel;
  // a lock another scheduler holds is waited for (briefly: holders keep it
  // for a few round trips).
  template <typename Step>
  auto locked(const std::string& schedule, Step step);
  Connection& connection();
  Record take_record(const std::string& schedule);
  void commit(const std::string& what);

  const RabbitmqBrokerOptions& options_;
  std::mutex mutex_;  // one schedule operation at a time on the connection
  std::unique_ptr<Connection> connection_;
  bool transactional_ = false;  // tx.select done on the current channel
};

}  // namespace dramatiq::rabbitmq
