// The Prometheus middleware: counts upstream Dramatiq's message metrics in
// the engine's hooks, into this process's metrics file.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dramatiq/metrics_file.hpp"
#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Counts messages processed, errored, retried and dead-lettered, messages in
// progress, delayed messages held in memory and processing durations, per
// (queue_name, actor_name), into a metrics::MetricsFile in `db_path`. No
// lock and no Python per message: atomic adds on shared memory. Counting
// starts when the process boots (after_process_boot) or its worker boots;
// before that (e.g. in a process that only sends messages) the hooks do
// nothing. The exposition side is metrics::read_directory +
// metrics::render_prometheus.
class Prometheus : public Middleware {
 public:
  explicit Prometheus(std::string db_path);
  std::string name() const override { return "Prometheus"; }

  void after_process_boot(Broker&) override { open(); }
  void before_worker_boot(Broker&, Worker&) override;
  void after_worker_shutdown(Broker&, Worker&) override;
  void after_enqueue(Broker&, Message&, Delay) override;
  void before_delay_message(Broker&, MessageProxy&) override;
  void after_ack(Broker&, MessageProxy&) override;
  void after_nack(Broker&, MessageProxy&) override;
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;

  const std::string& db_path() const { return db_path_; }
  // The file this process counts into; empty until counting has started.
  std::string file_path() const;

 private:
  // Starts counting (idempotent); returns the file or nullptr on failure.
  metrics::MetricsFile* open();
  metrics::SeriesRecord* series(const Message& message);
  void finish(MessageProxy& message, bool errored);
  void release_delayed(const MessageProxy& message);

  std::string db_path_;
  std::mutex open_mutex_;
  std::unique_ptr<metrics::MetricsFile> file_;
  std::atomic<metrics::MetricsFile*> active_{nullptr};
  bool open_failed_ = false;
  // Delayed messages this process holds, by message id: the gauge goes down
  // when they leave memory (moved to their queue, or the worker stops).
  std::mutex delayed_mutex_;
  std::unordered_map<std::string, metrics::SeriesRecord*> delayed_;
};

}  // namespace dramatiq
