#include "broker/settlement_queue.hpp"

#include <algorithm>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
using Clock = std::chrono::steady_clock;

std::size_t count_of(const SettlementQueue::Batch& batch) {
  std::size_t count = 0;
  for (const auto& [lane, pending] : batch) count += pending.size();
  return count;
}

void append(SettlementQueue::Pending& to, const SettlementQueue::Pending& from) {
  to.acks.insert(to.acks.end(), from.acks.begin(), from.acks.end());
  to.nacks.insert(to.nacks.end(), from.nacks.begin(), from.nacks.end());
}
}  // namespace

SettlementQueue::SettlementQueue(Transport& transport, std::string logger, std::string unsent_fate,
                                 SettlementTiming timing)
    : transport_(transport), logger_(std::move(logger)), unsent_fate_(std::move(unsent_fate)),
      timing_(timing) {}

void SettlementQueue::ack(const std::string& lane, std::string receipt) {
  add(lane, std::move(receipt), true);
}
void SettlementQueue::nack(const std::string& lane, std::string receipt) {
  add(lane, std::move(receipt), false);
}

bool SettlementQueue::note_pending_locked() {
  if (pending_.empty()) pending_since_ = Clock::now();
  // The thread must wake by pending_since_ + quiet_delay; notify it only
  // when it sleeps longer than that (while it is awake it is unset).
  return thread_wakes_at_ > pending_since_ + timing_.quiet_delay;
}

void SettlementQueue::start_thread_locked() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void SettlementQueue::add(const std::string& lane, std::string receipt, bool ack) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    wake = note_pending_locked();
    auto& pending = pending_[lane];
    (ack ? pending.acks : pending.nacks).push_back(std::move(receipt));
    handed_in_ += 1;
    if (!stopping_) start_thread_locked();
  }
  if (wake) work_.notify_one();
}

SettlementQueue::Pending SettlementQueue::take(const std::string& lane) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(lane);
  if (it == pending_.end()) return {};
  Pending taken = std::move(it->second);
  pending_.erase(it);
  return taken;
}

void SettlementQueue::sent(const std::string& lane, const Pending& settled) {
  if (settled.size() == 0) return;
  transport_.confirmed(lane, settled);
  {
    std::lock_guard lock(mutex_);
    sent_ += settled.size();
  }
  settled_.notify_all();
}

void SettlementQueue::give_back(const std::string& lane, Pending settled) {
  if (settled.size() == 0) return;
  bool wake;
  {
    std::lock_guard lock(mutex_);
    wake = note_pending_locked();
    auto& pending = pending_[lane];
    append(settled, pending);  // older settlements go first
    pending = std::move(settled);
  }
  if (wake) work_.notify_one();
}

void SettlementQueue::consumer_opened() {
  {
    std::lock_guard lock(mutex_);
    open_consumers_ += 1;
    stopping_ = false;
    start_thread_locked();
  }
  work_.notify_one();
}

void SettlementQueue::consumer_closed() {
  std::lock_guard lock(mutex_);
  open_consumers_ -= 1;
}

bool SettlementQueue::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::uint64_t target = handed_in_;
  flush_target_ = std::max(flush_target_, target);
  work_.notify_one();
  return settled_.wait_for(lock, timeout, [&] { return sent_ >= target || !thread_.joinable(); });
}

void SettlementQueue::stop() {
  flush(std::chrono::seconds(5));
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread.swap(thread_);
  }
  work_.notify_all();
  if (thread.joinable()) thread.join();
}

void SettlementQueue::run() {
  auto retry_delay = timing_.first_retry_delay;
  auto last_heartbeat = Clock::time_point{};
  bool heartbeats = timing_.heartbeat_interval.count() > 0;
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_ && pending_.empty()) break;
    auto now = Clock::now();
    auto heartbeat_at = last_heartbeat + timing_.heartbeat_interval;
    bool heartbeat_due = heartbeats && open_consumers_ > 0 && now >= heartbeat_at;
    bool send_due = !pending_.empty() && (stopping_ || flush_target_ > sent_ ||
                                          now >= pending_since_ + timing_.quiet_delay);
    if (!send_due && !heartbeat_due) {
      auto wake_at = Clock::time_point::max();
      if (heartbeats && open_consumers_ > 0) wake_at = heartbeat_at;
      if (!pending_.empty()) wake_at = std::min(wake_at, pending_since_ + timing_.quiet_delay);
      thread_wakes_at_ = wake_at;
      if (wake_at == Clock::time_point::max()) {
        work_.wait(lock);
      } else {
        work_.wait_until(lock, wake_at);
      }
      thread_wakes_at_ = Clock::time_point{};
      continue;
    }
    Batch batch;
    batch.swap(pending_);
    std::size_t count = count_of(batch);
    lock.unlock();
    bool ok = send(batch);
    lock.lock();
    if (ok) {
      last_heartbeat = Clock::now();
      sent_ += count;
      retry_delay = timing_.first_retry_delay;
      settled_.notify_all();
      continue;
    }
    // Keep the batch (ahead of anything newer) and try again later.
    if (pending_.empty()) pending_since_ = Clock::now();
    for (auto& [lane, pending] : pending_) append(batch[lane], pending);
    pending_.swap(batch);
    if (stopping_) break;
    work_.wait_for(lock, retry_delay, [&] { return stopping_; });
    retry_delay = std::min(retry_delay * 2, timing_.max_retry_delay);
  }
  if (!pending_.empty()) {
    log::write(log::Level::Warning, logger_,
               std::to_string(count_of(pending_)) +
                   " acknowledgements could not be sent before shutdown; " + unsent_fate_);
  }
  settled_.notify_all();
}

bool SettlementQueue::send(Batch& batch) {
  try {
    transport_.send(batch);
    for (auto& [lane, pending] : batch) transport_.confirmed(lane, pending);
    return true;
  } catch (const BrokerConnectionError& e) {
    log::write(log::Level::Warning, logger_,
               std::string("Could not send acknowledgements: ") + e.what() + ". Retrying.");
    return false;
  } catch (const std::exception& e) {
    log::write(log::Level::Error, logger_,
               std::string("The broker rejected a batch of acknowledgements: ") + e.what());
    return true;
  }
}

}  // namespace dramatiq
