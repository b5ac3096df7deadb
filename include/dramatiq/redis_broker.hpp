// A broker on Redis, with upstream Dramatiq's key layout and semantics, so
// upstream workers and producers can share queues with this one.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dramatiq/broker.hpp"
#include "dramatiq/redis_options.hpp"

namespace dramatiq {

// The Redis broker: upstream's key layout, Lua scripts for fetches and
// settlement, Pub/Sub wake-ups for idle consumers (src/redis/).
class RedisBroker : public Broker {
 public:
  explicit RedisBroker(RedisBrokerOptions options);
  ~RedisBroker() override;

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override;
  // Drops a queue's waiting messages, its delay queue's and its dead letters.
  void flush(const std::string& queue_name) override;
  void flush_all() override;
  void close() override;

  // Round trip to the server; throws ConnectionFailed/ConnectionClosed
  // when it cannot be reached.
  void ping();

  // Unique per broker instance: names this process's heartbeat and its
  // sets of unacknowledged messages. Settable while the broker runs (as
  // upstream's attribute): later calls use the new id, and what was taken
  // under the old one is returned to its queues by maintenance once the
  // old id's heartbeat is older than the heartbeat timeout.
  std::string broker_id() const;
  void set_broker_id(std::string id);
  const RedisBrokerOptions& options() const;

  // The maintenance settings, changeable while the broker runs (as
  // upstream's attributes): later script calls use the new values.
  std::int64_t heartbeat_timeout_ms() const;
  void set_heartbeat_timeout_ms(std::int64_t milliseconds);
  std::int64_t dead_message_ttl_ms() const;
  void set_dead_message_ttl_ms(std::int64_t milliseconds);
  int maintenance_chance() const;
  void set_maintenance_chance(int chance);

  // Upstream's do_qsize: the messages of a queue and its delay queue in
  // their hashes, plus those this broker holds unsettled (those count
  // twice). A script call, so it may run maintenance too.
  std::size_t queue_size(const std::string& queue_name);

  // In flight: in the queue's hash and not on its list (a worker holds
  // it); delayed: every message of the delay queue's hash.
  QueueCounts queue_counts(const std::string& queue_name) override;
  // A dead letter's id is its Redis message id (the member of ns:q.XQ).
  std::vector<StoredDeadLetter> list_dead_letters(const std::string& queue_name, std::size_t limit) override;
  std::size_t requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  std::size_t delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  std::vector<StoredMessage> list_messages(const std::string& queue_name, std::size_t limit) override;
  // Worker records: the hash ns:__worker_records__ (worker id -> JSON);
  // expired ones are dropped when listed.
  bool keeps_worker_records() const override { return true; }
  void put_worker_record(const WorkerRecord& record) override;
  void remove_worker_record(const std::string& worker_id) override;
  std::vector<WorkerRecord> list_worker_records() override;

  // Upstream's do_enqueue and do_fetch, for tools and tests that work on
  // the key layout itself: adds already-encoded bytes under a Redis message
  // id to a queue; takes up to `count` messages off a queue into this
  // broker's unacknowledged set and returns their bytes (the caller owns
  // settling them; nothing here acks).
  void enqueue_encoded(const std::string& queue_name, const std::string& redis_message_id,
                       const std::string& data);
  std::vector<std::string> fetch_encoded(const std::string& queue_name, int count);

  // Upstream's do_ack and do_nack: settles one message this broker took
  // from `queue_name`, by its Redis id, at once (a nack moves it to the
  // dead letters). An id not in this broker's unacknowledged set is left
  // alone, as the worker's own settlements leave it.
  void settle_encoded(const std::string& queue_name, const std::string& redis_message_id, bool ack);

  // Makes consumers settle each message through `ack`/`nack` instead of
  // their batched settlements: a host program that replaced do_ack or
  // do_nack (tests, instrumentation) sees every settlement. An empty
  // function keeps that side batched. They may throw BrokerConnectionError:
  // the worker retries the settlement as after any connection error.
  using HostSettle = std::function<void(const std::string& queue_name, const std::string& redis_message_id)>;
  void set_host_settlement(HostSettle ack, HostSettle nack);

  class Impl;

 protected:
  const char* logger_name() const override { return "dramatiq.broker.RedisBroker"; }
  // Waiting, delayed and unacknowledged messages, across every worker.
  std::size_t count_unfinished(const std::string& queue_name) override;
  void stamp_message(Message& message) override;
  void do_declare_queue(const std::string& queue_name) override;
  void do_enqueue(const std::string& queue_name, const Message& message) override;
  void do_enqueue_all(const std::vector<Message>& messages) override;
  // The schedule's last tick is a field of the hash ns:__schedules__,
  // WATCHed while the message and the new tick go in one MULTI/EXEC.
  bool do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) override;

  // Cancellations: the sorted set ns:__cancelled__ and the channel
  // ns:__cancellations__ (src/redis/cancellations.hpp).
  void do_cancel(const std::string& message_id, std::int64_t expires_ms) override;

 public:
  std::optional<std::int64_t> last_tick(const std::string& schedule_name) override;
  bool supports_ticks() const override { return true; }
  bool supports_cancellation() const override { return true; }
  std::unique_ptr<CancellationWatch> watch_cancellations(CancellationCallback callback) override;

 protected:

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dramatiq
