// A worker's view of its broker's cancellations: the ids cancelled (each
// until its expiry), fed by Broker::watch_cancellations, and the messages
// its threads run now, so that a cancellation of one of them interrupts
// its thread (InterruptKind::Cancelled).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dramatiq/broker.hpp"
#include "dramatiq/interrupt.hpp"

namespace dramatiq {

class CancellationTracker {
 public:
  // Starts watching `broker`'s cancellations (nothing on a broker without).
  void start(Broker& broker);
  void stop();

  // Called by a worker thread before running `message_id`: false if it is
  // cancelled (then it must not run); else it counts as running on
  // `thread` until finished().
  bool begin(const std::string& message_id, ThreadId thread);
  void finished(const std::string& message_id);

 private:
  void cancelled(const std::string& message_id, std::int64_t expires_ms);
  void prune_locked(std::int64_t now_ms);

  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> expiry_;  // cancelled ids
  std::unordered_map<std::string, ThreadId> running_;
  std::size_t added_since_prune_ = 0;
  std::unique_ptr<CancellationWatch> watch_;
};

}  // namespace dramatiq
