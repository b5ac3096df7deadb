#include "worker/cancellation_tracker.hpp"

#include <algorithm>
#include <vector>

#include "core/saturating.hpp"
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

CancellationTracker::RunningSlot& CancellationTracker::enroll() {
  std::lock_guard lock(slots_mutex_);
  RunningSlot& slot = slots_.emplace_back();
  slot.thread = current_thread_id();
  return slot;
}

void CancellationTracker::leave(RunningSlot& slot) {
  std::lock_guard lock(slots_mutex_);
  slots_.remove_if([&](const RunningSlot& s) { return &s == &slot; });
}

void CancellationTracker::cancelled(const std::string& message_id, std::int64_t expires_ms) {
  std::vector<ThreadId> threads;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t now = current_millis();
    auto& expiry = expiry_[message_id];
    // A broker may tell of one cancellation twice (RabbitMQ: its exchange
    // and its stream): a running message is interrupted once only.
    const bool known = expiry > now;
    expiry = std::max(expiry, expires_ms);
    any_cancelled_.store(true);
    if (++added_since_prune_ >= kPruneEvery) prune_locked(now);
    if (known) return;
  }
  {
    // The id is in the table before any slot is looked at, and begin()
    // looks at the table while holding its slot: so either begin() sees
    // the id, or it had put the message in its slot before this looks.
    std::lock_guard lock(slots_mutex_);
    for (RunningSlot& slot : slots_) {
      std::lock_guard running(slot.mutex);
      if (slot.message_id == message_id) threads.push_back(slot.thread);
    }
  }
  for (ThreadId thread : threads) {
    // Interrupting first: logging through the host (Python) waits for its
    // lock too, and the actor should not wait for the record.
    interrupt_thread(thread, InterruptKind::Cancelled);
    log::write(log::Level::Info, "dramatiq.worker.Worker", "Interrupted message %s: it was cancelled.",
               {message_id});
  }
}

void CancellationTracker::prune_locked(std::int64_t now_ms) {
  added_since_prune_ = 0;
  for (auto it = expiry_.begin(); it != expiry_.end();) it = it->second <= now_ms ? expiry_.erase(it) : std::next(it);
  any_cancelled_.store(!expiry_.empty());
}

bool CancellationTracker::is_cancelled(const std::string& message_id) {
  std::lock_guard lock(mutex_);
  auto it = expiry_.find(message_id);
  return it != expiry_.end() && it->second > current_millis();
}

bool CancellationTracker::begin(RunningSlot& slot, const Message& message) {
  std::lock_guard running(slot.mutex);
  if (any_cancelled_.load() && is_cancelled(message.message_id)) return false;
  // Assigned, so each reuses the slot's buffer.
  slot.message_id = message.message_id;
  slot.actor_name = message.actor_name;
  slot.queue_name = message.queue_name;
  slot.started_at_ms = current_millis();
  // Saturating: a message's timestamp is whatever its producer wrote (INT64_MIN included).
  slot.waited_ms = std::max<std::int64_t>(0, saturating_sub(slot.started_at_ms, message.message_timestamp));
  return true;
}

void CancellationTracker::finished(RunningSlot& slot) {
  std::lock_guard running(slot.mutex);
  const std::int64_t duration = std::max<std::int64_t>(0, current_millis() - slot.started_at_ms);
  slot.message_id.clear();
  // Reservoir sampling: each finished message is kept with the same chance.
  std::uint64_t seen = ++slot.finished_since_take;
  if (slot.durations_ms.size() < kTimingSamplesPerThread) {
    slot.durations_ms.push_back(duration);
    slot.waits_ms.push_back(slot.waited_ms);
    return;
  }
  slot.random_state ^= slot.random_state << 13;  // xorshift64
  slot.random_state ^= slot.random_state >> 7;
  slot.random_state ^= slot.random_state << 17;
  std::uint64_t pick = slot.random_state % seen;
  if (pick < kTimingSamplesPerThread) {
    slot.durations_ms[pick] = duration;
    slot.waits_ms[pick] = slot.waited_ms;
  }
}

void CancellationTracker::take_timings(std::vector<std::int64_t>& durations_ms, std::vector<std::int64_t>& waits_ms) {
  std::lock_guard lock(slots_mutex_);
  for (RunningSlot& slot : slots_) {
    std::lock_guard running(slot.mutex);
    durations_ms.insert(durations_ms.end(), slot.durations_ms.begin(), slot.durations_ms.end());
    waits_ms.insert(waits_ms.end(), slot.waits_ms.begin(), slot.waits_ms.end());
    slot.durations_ms.clear();
    slot.waits_ms.clear();
    slot.finished_since_take = 0;
  }
}

std::vector<RunningMessage> CancellationTracker::running() {
  std::vector<RunningMessage> messages;
  std::lock_guard lock(slots_mutex_);
  for (RunningSlot& slot : slots_) {
    std::lock_guard running(slot.mutex);
    if (slot.message_id.empty()) continue;
    messages.push_back(RunningMessage{slot.thread, slot.message_id, slot.actor_name, slot.queue_name,
                                      slot.started_at_ms});
  }
  return messages;
}

}  // namespace dramatiq
