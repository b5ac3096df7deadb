// The Store of an SQLite file for the results and rate-limit backends: one
// per process. A backend made before fork() (at import time, say) opens a
// connection of its own in the child and leaves the parent's alone, since
// SQLite's locks belong to the process that opened them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "sqlite/store.hpp"

namespace dramatiq::sqlite {

// Wall-clock ms since the epoch: expiry times shared by every process.
std::int64_t wall_clock_ms();

class ProcessStore {
 public:
  // Creates the file's directory if needed and opens the file now, so that
  // a bad path fails the constructor.
  explicit ProcessStore(DatabaseOptions options);
  ~ProcessStore();
  ProcessStore(const ProcessStore&) = delete;
  ProcessStore& operator=(const ProcessStore&) = delete;

  // This process's Store, opened on first use after a fork.
  Store& get();
  // get().write(work), and now and then a look at the write-ahead log's
  // size: truncated when it outgrew 64 MiB (constant readers can keep
  // SQLite's automatic checkpoints from resetting it; on a file shared with
  // the broker, its heartbeat does the same).
  void write(const std::function<void(Database&)>& work);
  const DatabaseOptions& options() const { return options_; }

 private:
  const DatabaseOptions options_;
  std::mutex mutex_;
  std::unique_ptr<Store> store_;
  long opened_pid_ = 0;
  std::atomic<std::uint32_t> writes_{0};
};

// Creates the directory of `path` when it is missing; ConnectionFailed
// naming the path when it cannot.
void create_parent_directory(const std::string& path);

}  // namespace dramatiq::sqlite
