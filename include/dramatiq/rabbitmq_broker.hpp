// A broker on RabbitMQ (rabbitmq-c), declaring and using queues as upstream
// Dramatiq does, so upstream workers and producers can share them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "dramatiq/broker.hpp"
#include "dramatiq/rabbitmq_options.hpp"

namespace dramatiq {

// The RabbitMQ broker: durable "<q>", "<q>.DQ" and "<q>.XQ" queues,
// persistent publishes (optionally confirmed), push consumers with
// basic.qos prefetch, settlements on the delivering channel (src/rabbitmq/).
class RabbitmqBroker : public Broker {
 public:
  explicit RabbitmqBroker(RabbitmqBrokerOptions options = {});
  ~RabbitmqBroker() override;

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override;
  // Purges a queue, its delay queue and its dead letters.
  void flush(const std::string& queue_name) override;
  void flush_all() override;
  // Closes the publishing connections (new ones open on the next use).
  void close() override;

  // Declares `queue_name` on the broker if needed, and creates its three
  // queues on the server now unless that was done already. Throws
  // ConnectionClosed after max_declare_attempts failed attempts.
  void ensure_queue(const std::string& queue_name);

  // Ready messages of a queue, its delay queue and its dead letters (as
  // queue.declare reports them; messages delivered and not yet acked are
  // not counted). Declares the queues, as upstream does.
  struct QueueCounts {
    std::uint32_t ready = 0;
    std::uint32_t delayed = 0;
    std::uint32_t dead = 0;
  };
  QueueCounts get_queue_message_counts(const std::string& queue_name);
  // The same as a dramatiq::QueueCounts; in_flight is unset (AMQP does not
  // tell how many are delivered and unacked), delayed counts those no
  // worker holds yet.
  dramatiq::QueueCounts queue_counts(const std::string& queue_name) override;
  // Dead letters, read and settled on a connection of their own
  // (src/rabbitmq/dead_letters.hpp): a dead letter's id is its message id;
  // its death time is not kept.
  std::vector<StoredDeadLetter> list_dead_letters(const std::string& queue_name, std::size_t limit) override;
  std::size_t requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  std::size_t delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  // Taken with basic.get and given back (src/rabbitmq/basic_get.hpp): only
  // those no consumer holds; each listed comes back marked redelivered.
  std::vector<StoredMessage> list_messages(const std::string& queue_name, std::size_t limit) override;
  // Worker records: messages of "dramatiq.__worker_records__" that expire
  // with them (src/rabbitmq/worker_records.hpp).
  bool keeps_worker_records() const override { return true; }
  void put_worker_record(const WorkerRecord& record) override;
  void remove_worker_record(const std::string& worker_id) override;
  std::vector<WorkerRecord> list_worker_records() override;

  // Creates "<q>" itself on the server (not its delay and dead-letter
  // queues) on a pooled connection, once. Throws ConnectionClosed.
  void declare_main_queue(const std::string& canonical);
  // Replaces the step that creates "<q>" when a queue is first used: the
  // host's own code (Python code that replaced upstream's `_declare_queue`,
  // as upstream's tests do) runs there instead, then "<q>.DQ" and "<q>.XQ"
  // are declared. A declarer that throws BrokerConnectionError fails that
  // attempt; after max_declare_attempts the use throws ConnectionClosed and
  // is not retried. Empty: the engine's own (the default).
  using QueueDeclarer = std::function<void(const std::string& canonical)>;
  void set_queue_declarer(QueueDeclarer declarer);

  // Upstream's join: returns once `queue_name` and its delay queue were
  // seen empty `min_successes` times in a row, `idle_time` apart (messages
  // held unsettled by this process's consumers count as not empty). False
  // on timeout. `between_waits` runs between counts (to check for
  // interrupts) and may throw.
  bool join_idle(const std::string& queue_name, int min_successes, std::chrono::milliseconds idle_time,
                 std::optional<std::chrono::milliseconds> timeout,
                 const std::function<void()>& between_waits = {});

  const RabbitmqBrokerOptions& options() const;
  // Whether publishes wait for the server's confirmation; may be changed
  // at any time (upstream's attribute), for the next publishes.
  bool confirm_delivery() const;
  void set_confirm_delivery(bool confirm);

  class Impl;

 protected:
  const char* logger_name() const override { return "dramatiq.broker.RabbitmqBroker"; }
  // Ready messages of the queue and its delay queue, plus those this
  // process's consumers hold unsettled.
  std::size_t count_unfinished(const std::string& queue_name) override;
  void wait_for_settlement(const std::string& queue_name, std::chrono::steady_clock::time_point deadline,
                           std::chrono::milliseconds poll_interval) override;
  void do_declare_queue(const std::string& queue_name) override;
  void do_enqueue(const std::string& queue_name, const Message& message) override;
  void do_enqueue_all(const std::vector<Message>& messages) override;
  // A schedule's last tick is a message in a durable queue of its own,
  // changed under the schedule's lock (an exclusive queue) in one AMQP
  // transaction with the tick's message (src/rabbitmq/tick_records.hpp).
  bool do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) override;

  // Cancellations: entries of the stream dramatiq.__cancellations__
  // (src/rabbitmq/cancellations.hpp).
  void do_cancel(const std::string& message_id, std::int64_t expires_ms) override;

 public:
  std::optional<std::int64_t> last_tick(const std::string& schedule_name) override;
  bool supports_ticks() const override { return true; }
  bool supports_cancellation() const override { return true; }
  std::unique_ptr<CancellationWatch> watch_cancellations(CancellationCallback callback) override;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dramatiq
