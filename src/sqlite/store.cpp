#include "sqlite/store.hpp"

#include <sys/stat.h>

#include <set>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/wait_interruption.hpp"

namespace dramatiq::sqlite {

namespace {
constexpr int kCheckpointPages = 1000;
// A read moves at most this many passes' worth of spooled records first.
constexpr int kMaxPassesBeforeRead = 1000;
constexpr const char* kLogger = "dramatiq.broker.SQLiteBroker";
}  // namespace

Store::Store(const DatabaseOptions& options)
    : path_(options.path), database_(options), doorbell_(options.path + "-doorbell"),
      drainer_(spool_directory(options.path), doorbell_, kLogger), options_(options) {
  if (!options.durable) {
    // synchronous=FULL promises a send survives power loss: only a commit
    // that syncs does, so durable sends are not spooled.
    spool_ = std::make_unique<SpoolWriter>(spool_directory(options.path), doorbell_, ProcessIdentity::current());
  }
  // Replaces SQLite's automatic checkpoint, which runs inside a commit.
  sqlite3_wal_hook(database_.handle(), &Store::on_wal_commit, this);
}

Store::~Store() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    stopping_ = true;
  }
  checkpoint_wanted_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  sqlite3_wal_hook(database_.handle(), nullptr, nullptr);
}

int Store::on_wal_commit(void* store, sqlite3*, const char*, int pages) {
  if (pages < kCheckpointPages) return SQLITE_OK;
  auto* self = static_cast<Store*>(store);
  {
    std::lock_guard lock(self->checkpoint_mutex_);
    if (self->checkpoint_pending_ || self->stopping_) return SQLITE_OK;
    self->checkpoint_pending_ = true;
    if (!self->checkpointer_.joinable()) self->checkpointer_ = std::thread([self] { self->run_checkpoints(); });
  }
  self->checkpoint_wanted_.notify_one();
  return SQLITE_OK;
}

void Store::run_checkpoints() {
  std::unique_ptr<Database> connection;
  std::unique_lock lock(checkpoint_mutex_);
  while (true) {
    checkpoint_wanted_.wait(lock, [&] { return checkpoint_pending_ || stopping_; });
    if (stopping_) return;
    lock.unlock();
    try {
      if (!connection) connection = std::make_unique<Database>(options_);
      // PASSIVE: copies what no reader still needs, never waits for a lock,
      // so producers and consumers go on committing meanwhile. A log that
      // readers keep from resetting is truncated by checkpoint_if_larger_than.
      sqlite3_wal_checkpoint_v2(connection->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (between_copies_) between_copies_();
      // Commits made meanwhile are only in the log, and SQLite starts the
      // log over only once all of it was copied: under a steady producer it
      // would grow without end (hundreds of MB). Copy the rest with this
      // process's writers held back: a few pages, not the bulk (and nothing,
      // no sync either, when nothing was committed meanwhile).
      std::lock_guard hold_writers(connection_mutex_);
      sqlite3_wal_checkpoint_v2(connection->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } catch (...) {
      // The file could not be opened now; the next commit past the
      // threshold asks again.
      connection.reset();
    }
    lock.lock();
    checkpoint_pending_ = false;
    ++checkpoints_;
    checkpoint_done_.notify_all();
  }
}

bool Store::wait_for_checkpoints(std::uint64_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(checkpoint_mutex_);
  return checkpoint_done_.wait_for(lock, timeout, [&] { return checkpoints_ >= count; });
}

void Store::write(const std::function<void(Database&)>& work) {
  Job job{&work, nullptr, false};
  std::unique_lock lock(mutex_);
  waiting_.push_back(&job);
  while (!job.done) {
    if (committing_) {
      committed_.wait(lock);
      continue;
    }
    // Lead: commit everything handed in so far, this job included.
    committing_ = true;
    std::vector<Job*> batch;
    batch.swap(waiting_);
    lock.unlock();
    commit_batch(batch, &job);
    lock.lock();
    committing_ = false;
    committed_.notify_all();
  }
  if (job.error) std::rethrow_exception(job.error);
}

void Store::drain_spools(SpoolDrainer::Pass& pass, std::string& failure) {
  database_.exec("SAVEPOINT spool");
  try {
    pass = drainer_.drain(database_);
    database_.exec("RELEASE spool");
  } catch (const std::exception& e) {
    pass = SpoolDrainer::Pass{};
    failure = e.what();
    database_.exec("ROLLBACK TO spool");
    database_.exec("RELEASE spool");
  }
}

bool Store::spool_pending() {
  std::lock_guard connection(connection_mutex_);
  return drainer_.pending();
}

void Store::enqueue(const std::vector<MessageRow>& rows) {
  bool spooled = false;
  if (spool_) {
    try {
      spool_->append(rows);
      spooled = true;
    } catch (const BrokerConnectionError&) {
      // The database may still take them (and if not, says why).
    }
  }
  if (!spooled) {
    write([&](Database& db) {
      for (const MessageRow& row : rows) insert_message_row(db, row);
    });
  }
  std::set<std::string> queues;
  for (const MessageRow& row : rows) queues.insert(row.queue);
  for (const auto& queue : queues) doorbell_.ring(queue);
}

void Store::commit_batch(std::vector<Job*>& batch, Job* leader) {
  SpoolDrainer::Pass pass;
  std::string drain_failure;
  if (!commit_locked(batch, pass, drain_failure)) {
    std::lock_guard lock(mutex_);
    for (Job* job : batch) {
      if (job == leader) continue;
      job->error = nullptr;  // rolled back: it runs again in the next batch
      waiting_.push_back(job);
    }
    leader->error = std::make_exception_ptr(WaitInterrupted());
    leader->done = true;
    return;
  }
  // Outside the connection: a log sink may take the GIL.
  if (!drain_failure.empty()) {
    log::write(log::Level::Warning, kLogger,
               "Could not move spooled messages into the queues (a later write tries again): " + drain_failure);
  }
  for (const auto& report : pass.reports) log::write(log::Level::Warning, kLogger, report);
  for (const auto& queue : pass.queues) doorbell_.ring(queue);
  std::lock_guard lock(mutex_);
  for (Job* job : batch) job->done = true;
}

bool Store::commit_locked(std::vector<Job*>& batch, SpoolDrainer::Pass& pass, std::string& drain_failure) {
  std::lock_guard connection(connection_mutex_);
  const bool drain = drainer_.pending();
  try {
    database_.write([&] {
      drain_failure.clear();
      if (drain) drain_spools(pass, drain_failure);
      if (batch.size() == 1) {
        // Alone: the transaction itself undoes a failure.
        (*batch[0]->work)(database_);
        return;
      }
      for (Job* job : batch) {
        database_.exec("SAVEPOINT job");
        try {
          (*job->work)(database_);
          database_.exec("RELEASE job");
        } catch (...) {
          job->error = std::current_exception();
          database_.exec("ROLLBACK TO job");
          database_.exec("RELEASE job");
        }
      }
    });
    if (!drain_failure.empty()) {
      drainer_.failed();
    } else {
      drainer_.committed(pass);
    }
  } catch (const WaitInterrupted&) {
    pass = SpoolDrainer::Pass{};
    return false;
  } catch (...) {
    // Undone with the batch: the spool is looked at again next time.
    pass = SpoolDrainer::Pass{};
    auto error = std::current_exception();
    for (Job* job : batch) {
      if (!job->error) job->error = error;
    }
  }
  return true;
}

void Store::read(const std::function<void(Database&)>& work) {
  for (int passes = 0; passes < kMaxPassesBeforeRead && spool_pending(); ++passes) {
    try {
      write([](Database&) {});
    } catch (const BrokerConnectionError&) {
      break;  // a file this process cannot write: the read shows what is in
    }
    std::lock_guard connection(connection_mutex_);
    if (drainer_.last_failed()) break;  // logged; the read shows what is in
  }
  read_committed(work);
}

void Store::read_committed(const std::function<void(Database&)>& work) {
  std::lock_guard connection(connection_mutex_);
  work(database_);
}

void Store::checkpoint_if_larger_than(std::int64_t limit_bytes) {
  struct stat info{};
  std::string wal = path_ + "-wal";
  if (::stat(wal.c_str(), &info) != 0 || info.st_size <= limit_bytes) return;
  std::lock_guard connection(connection_mutex_);
  // TRUNCATE copies the log into the database, waits for readers to move
  // past it and resets it to zero bytes. It holds the write lock while it
  // waits: wait briefly (readers are short), and try again at the next
  // heartbeat rather than stall every producer for a full busy timeout.
  database_.limit_busy_wait(std::chrono::milliseconds(100));
  sqlite3_wal_checkpoint_v2(database_.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  database_.restore_busy_wait();
}

}  // namespace dramatiq::sqlite
