// Keeps a running Worker's record on its broker (dramatiq/worker_record.hpp):
// a thread of its own puts a fresh record every interval and removes it
// when stopped, so dashboards list the worker while it runs and, if it
// dies, stop listing it once its last record expires. A broker that keeps
// no records gets no thread. A failing put is logged (once as a warning)
// and tried again at the next interval: a worker does not stop for this.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "dramatiq/broker.hpp"
#include "dramatiq/worker.hpp"
#include "dramatiq/worker_record.hpp"

namespace dramatiq {

class WorkerRecordKeeper {
 public:
  // Fills what changes (queues, running messages, counters) into a record
  // whose identity and times are set.
  using Fill = std::function<void(WorkerRecord&)>;

  WorkerRecordKeeper(Broker& broker, const ThreadHooks& hooks, int worker_threads, Fill fill,
                     std::chrono::milliseconds interval = kWorkerRecordInterval);
  ~WorkerRecordKeeper();

  void start();
  // Stops the thread and removes the record.
  void stop();
  const std::string& worker_id() const { return worker_id_; }

 private:
  void loop();
  void put();

  Broker& broker_;
  const ThreadHooks& hooks_;
  const int worker_threads_;
  Fill fill_;
  const std::chrono::milliseconds interval_;
  std::string worker_id_;
  std::string hostname_;
  std::int64_t pid_ = 0;
  std::int64_t started_at_ms_ = 0;
  bool warned_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dramatiq
