// A worker's view of its broker's cancellations: the ids cancelled (each
// until its expiry), fed by Broker::watch_cancellations, and the message
// each of its threads runs now, so that a cancellation of one of them
// interrupts its thread (InterruptKind::Cancelled). The worker's record
// (dramatiq/worker_record.hpp) reads what each thread runs from here too.
//
// Each worker thread has a RunningSlot of its own, so a message's begin and
// finish take only that slot's lock (nobody else's, unless a cancellation
// is being told); the table of cancelled ids is read only while it holds
// any id.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/interrupt.hpp"
#include "dramatiq/message.hpp"
#include "dramatiq/worker_record.hpp"

namespace dramatiq {

class CancellationTracker {
 public:
  // What one worker thread runs now (enroll()).
  class RunningSlot {
    friend class CancellationTracker;
    std::mutex mutex;
    std::string message_id;  // empty between messages
    std::string actor_name;
    std::string queue_name;
    std::int64_t started_at_ms = 0;
    std::int64_t waited_ms = 0;  // of the message it runs
    ThreadId thread = 0;
    // Timings of the messages finished since the last take_timings(): a
    // uniform sample of at most kTimingSamplesPerThread (reservoir).
    std::vector<std::int64_t> durations_ms;
    std::vector<std::int64_t> waits_ms;
    std::uint64_t finished_since_take = 0;
    std::uint64_t random_state = 0x9e3779b97f4a7c15ull;
  };

  // Starts watching `broker`'s cancellations (nothing on a broker without).
  void start(Broker& broker);
  void stop();

  // A slot for the calling worker thread, kept until leave(); slots are
  // never moved, so the reference stays good.
  RunningSlot& enroll();
  void leave(RunningSlot& slot);

  // Called by a worker thread before running `message`: false if it is
  // cancelled (then it must not run); else it counts as running in `slot`
  // until finished().
  bool begin(RunningSlot& slot, const Message& message);
  void finished(RunningSlot& slot);
  // What every enrolled thread runs now.
  std::vector<RunningMessage> running();
  // The timings sampled since the last call (appended to the vectors).
  void take_timings(std::vector<std::int64_t>& durations_ms, std::vector<std::int64_t>& waits_ms);

 private:
  void cancelled(const std::string& message_id, std::int64_t expires_ms);
  bool is_cancelled(const std::string& message_id);
  void prune_locked(std::int64_t now_ms);

  // Locks are taken in this order: slots_mutex_, a slot's, mutex_.
  std::mutex slots_mutex_;
  std::list<RunningSlot> slots_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> expiry_;  // cancelled ids
  std::atomic<bool> any_cancelled_{false};                // !expiry_.empty()
  std::size_t added_since_prune_ = 0;
  std::unique_ptr<CancellationWatch> watch_;
};

}  // namespace dramatiq
