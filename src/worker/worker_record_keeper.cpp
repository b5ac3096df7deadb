#include "worker/worker_record_keeper.hpp"

#include <unistd.h>

#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"

namespace dramatiq {

namespace {
constexpr const char* kLogger = "dramatiq.worker.Worker";

std::string this_hostname() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}
}  // namespace

WorkerRecordKeeper::WorkerRecordKeeper(Broker& broker, const ThreadHooks& hooks, int worker_threads, Fill fill,
                                       std::chrono::milliseconds interval)
    : broker_(broker), hooks_(hooks), worker_threads_(worker_threads), fill_(std::move(fill)), interval_(interval) {}

WorkerRecordKeeper::~WorkerRecordKeeper() { stop(); }

void WorkerRecordKeeper::start() {
  if (!broker_.keeps_worker_records() || thread_.joinable()) return;
  worker_id_ = generate_message_id();
  hostname_ = this_hostname();
  pid_ = static_cast<std::int64_t>(::getpid());
  started_at_ms_ = current_millis();
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void WorkerRecordKeeper::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  try {
    broker_.remove_worker_record(worker_id_);
  } catch (const std::exception& e) {
    log::write(log::Level::Debug, kLogger, "Could not remove the worker's record (it expires on its own): %s",
               {std::string(e.what())});
  }
}

void WorkerRecordKeeper::put() {
  WorkerRecord record;
  record.worker_id = worker_id_;
  record.hostname = hostname_;
  record.pid = pid_;
  record.started_at_ms = started_at_ms_;
  record.worker_threads = worker_threads_;
  fill_(record);
  record.heartbeat_at_ms = current_millis();
  record.expires_at_ms = record.heartbeat_at_ms + kWorkerRecordLifetimeIntervals * interval_.count();
  try {
    broker_.put_worker_record(record);
  } catch (const std::exception& e) {
    log::write(warned_ ? log::Level::Debug : log::Level::Warning, kLogger,
               "Could not put the worker's record on the broker (tried again in a moment): %s",
               {std::string(e.what())});
    warned_ = true;
  }
}

void WorkerRecordKeeper::loop() {
  if (hooks_.on_start) hooks_.on_start();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    put();
    lock.lock();
    wake_.wait_for(lock, interval_, [&] { return stopping_; });
  }
  lock.unlock();
  if (hooks_.on_stop) hooks_.on_stop();
}

}  // namespace dramatiq
