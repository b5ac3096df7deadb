// The Prometheus middleware's hooks (see dramatiq/prometheus.hpp). When each
// metric changes follows upstream Dramatiq 2.2; docs/prometheus.md lists the
// two places where we deliberately differ.
#include "dramatiq/prometheus.hpp"

#include <chrono>

#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

namespace {

constexpr const char* kLogger = "dramatiq.middleware.prometheus.Prometheus";

// The message a worker thread is processing, from before_process_message to
// after_process/skip_message (both run on that thread, one message at a
// time), so durations need no shared map.
struct Running {
  const Prometheus* owner = nullptr;
  const MessageProxy* message = nullptr;
  metrics::SeriesRecord* series = nullptr;
  std::chrono::steady_clock::time_point start;
};
thread_local Running running;

}  // namespace

Prometheus::Prometheus(std::string db_path) : db_path_(std::move(db_path)) {}

metrics::MetricsFile* Prometheus::open() {
  if (auto* file = active_.load(std::memory_order_acquire)) return file;
  std::lock_guard lock(open_mutex_);
  if (file_ || open_failed_) return file_.get();
  try {
    file_ = std::make_unique<metrics::MetricsFile>(db_path_);
    log::write(log::Level::Debug, kLogger, "Counting metrics into " + file_->path() + ".");
    active_.store(file_.get(), std::memory_order_release);
  } catch (const std::exception& e) {
    open_failed_ = true;
    log::write(log::Level::Error, kLogger, std::string("Metrics are disabled: ") + e.what());
  }
  return file_.get();
}

std::string Prometheus::file_path() const {
  auto* file = active_.load(std::memory_order_acquire);
  return file ? file->path() : std::string();
}

metrics::SeriesRecord* Prometheus::series(const Message& message) {
  auto* file = active_.load(std::memory_order_acquire);
  return file ? file->series(message.queue_name, message.actor_name) : nullptr;
}

void Prometheus::before_worker_boot(Broker&, Worker&) {
  if (auto* file = open()) file->set_live(true);
}

void Prometheus::after_worker_shutdown(Broker&, Worker&) {
  // What upstream calls marking the process dead: its gauges stop showing.
  // Delayed messages still held were given back to the broker by the worker.
  {
    std::lock_guard lock(delayed_mutex_);
    for (auto& [id, record] : delayed_) record->add(metrics::Metric::Delayed, -1);
    delayed_.clear();
  }
  if (auto* file = active_.load(std::memory_order_acquire)) file->set_live(false);
}

void Prometheus::after_enqueue(Broker&, Message& message, Delay) {
  // As upstream: any enqueue of a message that has been retried, including
  // a retry's move from the delay queue to its queue (a second count, under
  // the queue's own name).
  if (!message.options.contains("retries")) return;
  if (auto* record = series(message)) record->add(metrics::Metric::Retries, 1);
}

void Prometheus::before_delay_message(Broker&, MessageProxy& proxy) {
  auto* record = series(proxy.message);
  if (!record) return;
  std::lock_guard lock(delayed_mutex_);
  if (delayed_.emplace(proxy.message.message_id, record).second) record->add(metrics::Metric::Delayed, 1);
}

void Prometheus::release_delayed(const MessageProxy& proxy) {
  // Only messages from a delay queue can have been held.
  if (!is_delay_queue(proxy.message.queue_name)) return;
  std::lock_guard lock(delayed_mutex_);
  auto found = delayed_.find(proxy.message.message_id);
  if (found == delayed_.end()) return;
  found->second->add(metrics::Metric::Delayed, -1);
  delayed_.erase(found);
}

void Prometheus::after_ack(Broker&, MessageProxy& proxy) { release_delayed(proxy); }

void Prometheus::after_nack(Broker&, MessageProxy& proxy) {
  release_delayed(proxy);
  if (auto* record = series(proxy.message)) record->add(metrics::Metric::Rejects, 1);
}

void Prometheus::before_process_message(Broker&, MessageProxy& proxy) {
  auto* record = series(proxy.message);
  if (!record) return;
  record->add(metrics::Metric::InProgress, 1);
  running = Running{this, &proxy, record, std::chrono::steady_clock::now()};
}

void Prometheus::finish(MessageProxy& proxy, bool errored) {
  metrics::SeriesRecord* record;
  double milliseconds = 0;  // upstream's duration when the start is unknown
  if (running.owner == this && running.message == &proxy) {
    record = running.series;
    auto elapsed = std::chrono::steady_clock::now() - running.start;
    milliseconds = std::chrono::duration<double, std::milli>(elapsed).count();
    record->add(metrics::Metric::InProgress, -1);
    running = Running{};
  } else {
    // Skipped before our before_process_message ran (an earlier middleware
    // raised SkipMessage): it was never counted as in progress.
    record = series(proxy.message);
    if (!record) return;
  }
  record->observe(milliseconds);
  record->add(metrics::Metric::Messages, 1);
  if (errored) record->add(metrics::Metric::Errors, 1);
}

void Prometheus::after_process_message(Broker&, MessageProxy& proxy, const Value*, const Failure* failure) {
  finish(proxy, failure != nullptr);
}

void Prometheus::after_skip_message(Broker&, MessageProxy& proxy) { finish(proxy, false); }

}  // namespace dramatiq
