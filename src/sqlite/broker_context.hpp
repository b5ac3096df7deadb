// What an SQLiteBroker's consumers, settlement thread and producers share:
// the process's Store (opened on first use, and again in a forked child),
// this process's worker registration (the holder of its leases), the
// settlement queue, and the liveness check that returns dead workers' leases.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker/settlement_queue.hpp"
#include "dramatiq/failure.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "sqlite/liveness.hpp"
#include "sqlite/store.hpp"

namespace dramatiq::sqlite {

std::int64_t now_ms();  // wall clock: shared by every process on the host

class BrokerContext : public SettlementQueue::Transport {
 public:
  explicit BrokerContext(SQLiteBrokerOptions options);
  ~BrokerContext() override;

  const SQLiteBrokerOptions& options() const { return options_; }
  Store& store();
  SettlementQueue& settler() { return *settler_; }
  const std::string& logger() const { return logger_; }

  // This process's worker id, registering it on first use (and returning
  // dead workers' leases then, so a restarted worker finds them at once).
  std::int64_t holder();
  // Forgets this process's registration, returning anything it still holds.
  void unregister();

  // Why a delivery is about to be nacked (kept with its dead letter).
  void note_failure(const std::string& receipt, const Failure& failure);
  // Inside a write transaction: applies acks and nacks of `queue` held by
  // `holder`.
  void settle(Database& db, std::int64_t holder, const std::string& queue,
              const SettlementQueue::Pending& pending);
  // Inside a write transaction: returns dead workers' leases; adds the
  // queues that got messages back to `queues` and what to log to
  // `reports` (logged by the caller once the transaction is over: a log
  // sink may take the GIL, which must never be awaited while holding the
  // database). Returns how many messages.
  std::size_t reclaim(Database& db, std::set<std::string>& queues, std::vector<std::string>& reports);
  void log_reports(const std::vector<std::string>& reports) const;
  void ring(const std::set<std::string>& queues);

  // SettlementQueue::Transport: one transaction for the batch, the
  // heartbeat and the periodic maintenance.
  void send(const SettlementQueue::Batch& batch) override;

 private:
  std::int64_t register_locked(Database& db);

  const SQLiteBrokerOptions options_;
  const std::string logger_;
  const ProcessIdentity self_;
  std::mutex mutex_;  // guards store_ and opened_pid_
  std::unique_ptr<Store> store_;
  long opened_pid_ = 0;
  std::atomic<std::int64_t> holder_{0};
  std::int64_t last_dead_letter_purge_ = 0;
  std::mutex failures_mutex_;
  std::map<std::string, Failure> failures_;  // by receipt, until the nack is written
  std::unique_ptr<SettlementQueue> settler_;
};

}  // namespace dramatiq::sqlite
