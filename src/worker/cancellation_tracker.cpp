#include "worker/cancellation_tracker.hpp"

#include <algorithm>

#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
// Expired ids are dropped every this many cancellations.
constexpr std::size_t kPruneEvery = 1024;
}  // namespace

void CancellationTracker::start(Broker& broker) {
  if (!broker.supports_cancellation()) return;
  watch_ = broker.watch_cancellations(
      [this](const std::string& message_id, std::int64_t expires_ms) { cancelled(message_id, expires_ms); });
}

void CancellationTracker::stop() { watch_.reset(); }

void CancellationTracker::cancelled(const std::string& message_id, std::int64_t expires_ms) {
  ThreadId thread = 0;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t now = current_millis();
    auto& expiry = expiry_[message_id];
    // A broker may tell of one cancellation twice (RabbitMQ: its exchange
    // and its stream): a running message is interrupted once only.
    const bool known = expiry > now;
    expiry = std::max(expiry, expires_ms);
    if (++added_since_prune_ >= kPruneEvery) prune_locked(now);
    if (known) return;
    auto it = running_.find(message_id);
    if (it == running_.end()) return;
    thread = it->second;
  }
  log::write(log::Level::Info, "dramatiq.worker.Worker", "Interrupting message %s: it was cancelled.",
             {message_id});
  interrupt_thread(thread, InterruptKind::Cancelled);
}

void CancellationTracker::prune_locked(std::int64_t now_ms) {
  added_since_prune_ = 0;
  for (auto it = expiry_.begin(); it != expiry_.end();) it = it->second <= now_ms ? expiry_.erase(it) : std::next(it);
}

bool CancellationTracker::begin(const std::string& message_id, ThreadId thread) {
  std::lock_guard lock(mutex_);
  if (auto it = expiry_.find(message_id); it != expiry_.end() && it->second > current_millis()) return false;
  running_[message_id] = thread;
  return true;
}

void CancellationTracker::finished(const std::string& message_id) {
  std::lock_guard lock(mutex_);
  running_.erase(message_id);
}

}  // namespace dramatiq
