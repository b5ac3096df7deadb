// One process's handle on an embedded-broker file: its database connection,
// used by one thread at a time, with group commit — threads that want to
// write while another is committing hand their work to the next commit, so
// many fetches and acks cost one transaction —, the doorbell, and the
// spool: sends go to this process's spool file, and every write
// transaction first moves what any process spooled into the queues.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sqlite/database.hpp"
#include "sqlite/doorbell.hpp"
#include "sqlite/spool.hpp"

namespace dramatiq::sqlite {

class Store {
 public:
  explicit Store(const DatabaseOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `work` inside a write transaction, possibly with other threads'
  // work in the same one, and returns once that transaction committed. An
  // exception from `work` undoes `work` only (a savepoint) and is rethrown
  // here; a failed commit fails every batched caller.
  void write(const std::function<void(Database&)>& work);

  // Runs `work` on the connection outside any transaction (reads, PRAGMAs),
  // once what was spooled before the call is in the queues.
  void read(const std::function<void(Database&)>& work);
  // The same without moving the spool first: what is committed now (for
  // tables the spool never writes, such as the cancellations).
  void read_committed(const std::function<void(Database&)>& work);

  // Sends `rows` (all of them or none): spooled, or with `durable` (or if
  // the spool cannot be written) committed to the database; then rings
  // their queues.
  void enqueue(const std::vector<MessageRow>& rows);

  // Truncates the write-ahead log when it outgrew `limit_bytes` (constant
  // readers can keep SQLite's automatic checkpoints from ever resetting it).
  void checkpoint_if_larger_than(std::int64_t limit_bytes);

  // Waits up to `timeout` until `count` background checkpoints have run
  // since this store opened; false if fewer ran.
  bool wait_for_checkpoints(std::uint64_t count, std::chrono::milliseconds timeout);

  // Called on the checkpointer's thread after its first copy of a round,
  // before it copies what was committed meanwhile: lets a test commit
  // while a round runs. Set before the first checkpoint.
  void set_between_copies(std::function<void()> probe) { between_copies_ = std::move(probe); }

  Doorbell& doorbell() { return doorbell_; }
  const std::string& path() const { return path_; }

 private:
  struct Job {
    const std::function<void(Database&)>* work;
    std::exception_ptr error;
    bool done = false;
  };
  // `leader`: the job of the thread committing. A Ctrl-C in that thread's
  // wait for the file's lock fails only its own job; the others go back
  // to the waiting jobs for the next leader.
  void commit_batch(std::vector<Job*>& batch, Job* leader);
  // Returns false if the wait for the file's lock was interrupted (nothing
  // was committed).
  bool commit_locked(std::vector<Job*>& batch, SpoolDrainer::Pass& pass, std::string& drain_failure);
  // Inside commit_batch's transaction, in a savepoint of its own: a pass
  // that fails is undone alone, and the batch's work goes on.
  void drain_spools(SpoolDrainer::Pass& pass, std::string& failure);
  bool spool_pending();
  // SQLite's WAL hook on our connection: asks for a checkpoint once the log
  // holds kCheckpointPages pages (SQLite's own automatic threshold).
  static int on_wal_commit(void* store, sqlite3* db, const char* name, int pages);
  void run_checkpoints();

  const std::string path_;
  Database database_;
  Doorbell doorbell_;
  std::mutex mutex_;
  std::condition_variable committed_;
  std::vector<Job*> waiting_;
  bool committing_ = false;
  std::mutex connection_mutex_;  // the connection: one thread at a time
  SpoolDrainer drainer_;          // with the connection
  std::unique_ptr<SpoolWriter> spool_;  // none with durable: sends commit

  // Checkpoints run on a thread and connection of their own: a checkpoint
  // syncs the files to disk, and done by SQLite inside the commit that
  // crossed the threshold it would stall that commit's callers (a send,
  // a batch of acks) for the length of the sync.
  const DatabaseOptions options_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_;
  std::condition_variable checkpoint_done_;
  std::uint64_t checkpoints_ = 0;
  bool checkpoint_pending_ = false;
  bool stopping_ = false;
  std::thread checkpointer_;  // started at the first checkpoint wanted
  std::function<void()> between_copies_;
};

}  // namespace dramatiq::sqlite
