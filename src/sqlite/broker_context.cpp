#include "sqlite/broker_context.hpp"

#include <unistd.h>

#include <chrono>
#include <optional>

#include "core/saturating.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq::sqlite {

namespace {
// Dead letters are purged at most this often.
constexpr std::int64_t kDeadLetterPurgeInterval = 60000;
}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

BrokerContext::BrokerContext(SQLiteBrokerOptions options)
    : options_(std::move(options)), logger_("dramatiq.broker.SQLiteBroker"),
      self_(ProcessIdentity::current()) {
  SettlementTiming timing;
  timing.heartbeat_interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
  settler_ = std::make_unique<SettlementQueue>(
      *this, logger_, "they return to their queue when this process is seen dead", timing);
}

BrokerContext::~BrokerContext() { settler_.reset(); }

Store& BrokerContext::store() {
  std::lock_guard lock(mutex_);
  long pid = ::getpid();
  if (!store_ || opened_pid_ != pid) {
    if (store_ && opened_pid_ != pid) {
      // A forked child: the parent's connection must not be used or closed
      // here (SQLite's locks belong to the parent); leave it be.
      (void)store_.release();
      holder_ = 0;
    }
    DatabaseOptions db;
    db.path = options_.path;
    db.durable = options_.durable;
    db.busy_timeout = std::chrono::milliseconds(options_.busy_timeout_ms);
    store_ = std::make_unique<Store>(db);
    opened_pid_ = pid;
  }
  return *store_;
}

std::int64_t BrokerContext::register_locked(Database& db) {
  auto insert = db.query(
      "INSERT INTO dramatiq_workers (pid, started, boot_id, pid_namespace, hostname, heartbeat) "
      "VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
  insert.bind(1, static_cast<std::int64_t>(::getpid()))
      .bind(2, process_start_time(::getpid()).value_or(0))
      .bind(3, self_.boot_id)
      .bind(4, self_.pid_namespace)
      .bind(5, self_.hostname)
      .bind(6, now_ms());
  insert.step();
  return insert.integer(0);
}

std::int64_t BrokerContext::holder() {
  std::int64_t id = holder_.load();
  if (id != 0 && opened_pid_ == ::getpid()) return id;
  Store& s = store();
  std::set<std::string> returned;
  std::vector<std::string> reports;
  s.write([&](Database& db) {
    if (holder_.load() != 0) return;
    reports.clear();
    reclaim(db, returned, reports);
    holder_ = register_locked(db);
  });
  log_reports(reports);
  ring(returned);
  return holder_.load();
}

void BrokerContext::unregister() {
  std::int64_t id = holder_.exchange(0);
  if (id == 0 || !store_ || opened_pid_ != ::getpid()) return;
  std::set<std::string> returned;
  store().write([&](Database& db) {
    auto update = db.query("UPDATE dramatiq_messages SET holder = NULL WHERE holder = ? RETURNING queue");
    update.bind(1, id);
    while (update.step()) returned.insert(update.text(0));
    db.query("DELETE FROM dramatiq_workers WHERE id = ?").bind(1, id).run();
  });
  ring(returned);
}

void BrokerContext::note_failure(const std::string& receipt, const Failure& failure) {
  std::lock_guard lock(failures_mutex_);
  failures_[receipt] = failure;
}

void BrokerContext::settle(Database& db, std::int64_t holder, const std::string& queue,
                           const SettlementQueue::Pending& pending) {
  (void)queue;
  for (const auto& receipt : pending.acks) {
    db.query("DELETE FROM dramatiq_messages WHERE id = ? AND holder = ?")
        .bind(1, std::stoll(receipt))
        .bind(2, holder)
        .run();
  }
  std::int64_t now = now_ms();
  for (const auto& receipt : pending.nacks) {
    std::int64_t id = std::stoll(receipt);
    std::optional<Failure> failure;
    {
      std::lock_guard lock(failures_mutex_);
      if (auto it = failures_.find(receipt); it != failures_.end()) {
        failure = std::move(it->second);
        failures_.erase(it);
      }
    }
    auto insert = db.query(
        "INSERT INTO dramatiq_dead_letters (queue, message_id, dead_at, body, failure_type, "
        "failure_message, traceback) SELECT queue, message_id, ?, body, ?, ?, ? FROM dramatiq_messages "
        "WHERE id = ? AND holder = ?");
    insert.bind(1, now);
    if (failure) {
      insert.bind(2, failure->type_name).bind(3, failure->message).bind(4, failure->traceback);
    } else {
      insert.bind_null(2).bind_null(3).bind_null(4);
    }
    insert.bind(5, id).bind(6, holder).run();
    db.query("DELETE FROM dramatiq_messages WHERE id = ? AND holder = ?").bind(1, id).bind(2, holder).run();
  }
}

void BrokerContext::log_reports(const std::vector<std::string>& reports) const {
  for (const auto& report : reports) log::write(log::Level::Warning, logger_, report);
}

std::size_t BrokerContext::reclaim(Database& db, std::set<std::string>& queues,
                                   std::vector<std::string>& reports) {
  struct Worker {
    std::int64_t id;
    ProcessIdentity identity;
    std::int64_t heartbeat;
  };
  std::vector<Worker> workers;
  {
    auto select = db.query(
        "SELECT id, pid, started, boot_id, pid_namespace, hostname, heartbeat FROM dramatiq_workers");
    while (select.step()) {
      Worker w;
      w.id = select.integer(0);
      w.identity.pid = select.integer(1);
      w.identity.started = select.integer(2);
      w.identity.boot_id = select.text(3);
      w.identity.pid_namespace = select.text(4);
      w.identity.hostname = select.text(5);
      w.heartbeat = select.integer(6);
      workers.push_back(std::move(w));
    }
  }
  std::int64_t now = now_ms();
  std::int64_t own = holder_.load();
  std::size_t total = 0;
  for (const auto& w : workers) {
    if (w.id == own) continue;
    Liveness state = liveness(w.identity, self_);
    // Another process's row: its heartbeat may be anything.
    std::int64_t unheard = saturating_sub(now, w.heartbeat);
    bool silent = unheard > options_.heartbeat_timeout_ms;
    if (state == Liveness::Alive || (state == Liveness::Unknown && !silent)) continue;
    std::size_t count = 0;
    {
      auto update = db.query("UPDATE dramatiq_messages SET holder = NULL WHERE holder = ? RETURNING queue");
      update.bind(1, w.id);
      while (update.step()) {
        queues.insert(update.text(0));
        count += 1;
      }
    }
    db.query("DELETE FROM dramatiq_workers WHERE id = ?").bind(1, w.id).run();
    total += count;
    if (count > 0) {
      std::string why = state == Liveness::Dead ? "its process " + std::to_string(w.identity.pid) + " is gone"
                                                : "it sent no heartbeat for " +
                                                      std::to_string(unheard / 1000) + " s";
      reports.push_back("Returned " + std::to_string(count) + " message(s) held by worker " +
                        std::to_string(w.id) + " (pid " + std::to_string(w.identity.pid) + " on " +
                        w.identity.hostname + ") to their queues: " + why + ".");
    }
  }
  if (now - last_dead_letter_purge_ >= kDeadLetterPurgeInterval) {
    last_dead_letter_purge_ = now;
    db.query("DELETE FROM dramatiq_dead_letters WHERE dead_at < ?")
        .bind(1, now - options_.dead_message_ttl_ms)
        .run();
  }
  return total;
}

void BrokerContext::ring(const std::set<std::string>& queues) {
  if (queues.empty()) return;
  Store& s = store();
  for (const auto& queue : queues) s.doorbell().ring(queue);
}

void BrokerContext::send(const SettlementQueue::Batch& batch) {
  std::int64_t id = holder();
  std::set<std::string> returned;
  std::vector<std::string> reports;
  bool presumed_dead = false;
  Store& s = store();
  s.write([&](Database& db) {
    reports.clear();
    presumed_dead = false;
    for (const auto& [queue, pending] : batch) settle(db, id, queue, pending);
    auto beat = db.query("UPDATE dramatiq_workers SET heartbeat = ? WHERE id = ?");
    beat.bind(1, now_ms()).bind(2, id).run();
    if (db.changes() == 0) {
      // Another process presumed this one dead (a long stall) and returned
      // its leases: what it still runs may run twice, and it needs a new id.
      presumed_dead = true;
      holder_ = register_locked(db);
    }
    reclaim(db, returned, reports);
  });
  if (presumed_dead) {
    log::write(log::Level::Warning, logger_,
               "This worker was presumed dead by another process (no heartbeat for too long); "
               "its messages went back to their queues and may run again.");
  }
  log_reports(reports);
  ring(returned);
  s.checkpoint_if_larger_than(options_.wal_limit_bytes);
}

}  // namespace dramatiq::sqlite
