// The embedded broker: queues in an SQLite file shared by every process on
// the host that opens it — producers and worker processes alike — with no
// server. Messages are leased to a worker when fetched and deleted when
// acknowledged; a dead worker's leases return to their queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"

namespace dramatiq {

struct SQLiteBrokerOptions {
  std::string path;
  // Commits also survive power loss (synchronous=FULL); by default they
  // survive any process crash (synchronous=NORMAL).
  bool durable = false;
  // A worker process on another host or pid namespace (whose liveness
  // cannot be seen) unheard for this long is presumed dead; on this host a
  // dead process is recognised at the next heartbeat.
  std::int64_t heartbeat_timeout_ms = 30000;
  std::int64_t heartbeat_interval_ms = 1000;
  // Dead-lettered messages older than this are dropped.
  std::int64_t dead_message_ttl_ms = 86400000LL * 7;
  // How long one write waits for another process's lock before retrying.
  std::int64_t busy_timeout_ms = 5000;
  // A worker's heartbeat truncates the write-ahead log once it grew past
  // this (constant readers keep SQLite's own checkpoints from resetting it).
  std::int64_t wal_limit_bytes = 64LL << 20;

  // Reads `sqlite:///abs/path?durable=1` or `sqlite://rel/path`; throws
  // std::invalid_argument naming what is wrong.
  static SQLiteBrokerOptions from_url(const std::string& url);
  // The file used when none is configured:
  // $XDG_DATA_HOME/dramatiq/broker.sqlite3 (~/.local/share/... by default).
  static std::string default_path();
};

class SQLiteBroker : public Broker {
 public:
  explicit SQLiteBroker(SQLiteBrokerOptions options);
  ~SQLiteBroker() override;

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override;
  // Drops a queue's waiting, delayed and leased messages and its dead letters.
  void flush(const std::string& queue_name) override;
  void flush_all() override;
  void close() override;

  const SQLiteBrokerOptions& options() const;

  // in_flight: leased to a worker.
  QueueCounts queue_counts(const std::string& queue_name) override;
  // A dead letter's id is its row id in dramatiq_dead_letters, in decimal.
  std::vector<StoredDeadLetter> list_dead_letters(const std::string& queue_name, std::size_t limit) override;
  std::size_t requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  std::size_t delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids) override;
  // Rows no worker holds: the due ones in the order they are taken, then
  // those waiting for their eta, soonest first.
  std::vector<StoredMessage> list_messages(const std::string& queue_name, std::size_t limit) override;
  // Worker records: rows of dramatiq_worker_records (expired ones dropped
  // when listed).
  bool keeps_worker_records() const override { return true; }
  void put_worker_record(const WorkerRecord& record) override;
  void remove_worker_record(const std::string& worker_id) override;
  std::vector<WorkerRecord> list_worker_records() override;
  // Runs the liveness check now (tests, tools): returns the leases of dead
  // worker processes to their queues and drops expired dead letters.
  std::size_t reclaim_dead_workers();

  class Impl;

 protected:
  const char* logger_name() const override { return "dramatiq.broker.SQLiteBroker"; }
  std::size_t count_unfinished(const std::string& queue_name) override;
  std::shared_ptr<MessageProxy> first_dead_letter(const std::string& queue_name) override;
  void do_declare_queue(const std::string& queue_name) override;
  void do_enqueue(const std::string& queue_name, const Message& message) override;
  void do_enqueue_all(const std::vector<Message>& messages) override;
  // One transaction: the schedule's last tick (table dramatiq_schedules)
  // and the message, committed directly (not spooled).
  bool do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message) override;

  // A row of dramatiq_cancellations (expired rows dropped on the way);
  // watchers in every process are woken through the doorbell.
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
