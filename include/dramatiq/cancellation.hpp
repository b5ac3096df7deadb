// Cancelling messages: a cancelled message that has not started never runs
// (its actor is skipped, the message acked, after_skip_message emitted); a
// running one is interrupted as TimeLimit interrupts (InterruptKind::
// Cancelled) and not retried. Brokers that support it record each
// cancellation for a TTL, so that a message fetched later is still skipped,
// and tell every worker at once (Broker::watch_cancellations).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dramatiq {

// How long a cancellation is remembered by default: a day.
inline constexpr std::chrono::milliseconds kDefaultCancellationTtl = std::chrono::hours(24);

// A watch on a broker's cancellations: calls its callback (from a thread of
// the broker's) with every cancellation in force when it started, then with
// each new one, until destroyed.
class CancellationWatch {
 public:
  virtual ~CancellationWatch() = default;
};
// (message id, when the cancellation expires, in ms since the epoch)
using CancellationCallback = std::function<void(const std::string& message_id, std::int64_t expires_ms)>;

}  // namespace dramatiq
