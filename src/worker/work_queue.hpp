// The worker's queue of messages ready to run, and the rules for waking the
// worker threads that take from it.
//
// Waking a sleeping thread per message costs a context switch and, with
// Python actors, a GIL hand-off; an awake thread between messages takes
// queued work for free. So a push wakes a sleeper only when every thread
// sleeps. Parallelism for actors that run long (or wait on I/O) comes from
// a watcher: one sleeper wakes every stale_work_check while others are busy,
// and when items queued at its previous look are still queued (they waited a
// whole period while the awake threads were busy, whether or not those took
// other items meanwhile) it takes one and wakes a sleeper per other such item. With `spin`, one thread that runs
// out of work busy-waits a little for the next item instead of sleeping
// (worth it when messages are handed over in process, one at a time), and
// meanwhile takes the next message off the broker itself through
// `spin_fetch`: that costs about what the consumer thread would spend on
// it, and spares the hand-off to and from that thread (a wake-up each way,
// often on a core the machine does not have free).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <vector>

#include "dramatiq/actor.hpp"
#include "dramatiq/message_proxy.hpp"

namespace dramatiq {

class ConsumerSession;

// A message waiting for a worker thread: its actor (resolved once, when it
// was delivered) and the consumer session it must be settled through.
struct WorkItem {
  int priority = 0;  // the actor's: lower runs first
  std::shared_ptr<MessageProxy> message;
  std::shared_ptr<ConsumerSession> source;
};

struct WorkQueueTuning {
  std::chrono::microseconds spin_time{50};        // how long one thread spins for work
  std::chrono::milliseconds stale_work_check{1};  // how often the watcher looks
};

class WorkQueue {
 public:
  // `threads`: how many worker threads take from it; `idle_timeout`: how
  // long take() waits before returning empty-handed.
  // With `spin`, `spin_fetch` (optional) is called while spinning: it may
  // push an item itself and return true.
  WorkQueue(int threads, bool spin, std::chrono::milliseconds idle_timeout, WorkQueueTuning tuning = {},
            std::function<bool()> spin_fetch = {});

  // Queues an item without waking anyone: a consumer pushes a fetched
  // batch, then calls wake_for_work() once.
  void push(WorkItem item);
  void wake_for_work();
  // Between these a consumer pushes what it fetched at once (a batch, or
  // what an in-process broker already holds): no thread takes an item
  // meanwhile, so the first taken is the batch's highest priority, not
  // whichever was pushed first. A batch takes microseconds (no waiting
  // fetch inside); call wake_for_work() after the end.
  void begin_batch();
  void end_batch();

  // The next item for the calling worker thread, or nullopt after the idle
  // timeout, while paused, or once closed. Runs `before_sleep` (outside the
  // lock) when it is about to sleep. While paused the thread parks here
  // until resumed or closed.
  // `slot` (0..threads-1, or -1) names the calling thread for pause_slot().
  std::optional<WorkItem> take(const std::function<void()>& before_sleep = {}, int slot = -1);
  // The item taken is finished (processed, or given up).
  void done();

  // Pausing: take() parks callers; wait_until_parked waits until `count`
  // threads are parked (true) or the queue is closed (false).
  void set_paused(bool paused);
  bool wait_until_parked(int count);

  // Pausing one thread, named by the slot it passes take(): it parks in
  // take() as all do while the queue is paused, until resume_slot() or
  // resume_slots(); the others go on. wait_slot_parked waits until it is
  // parked (true), up to `timeout`, or until the queue is closed (false).
  void pause_slot(int slot);
  void resume_slot(int slot);
  void resume_slots();
  bool wait_slot_parked(int slot, std::chrono::milliseconds timeout);

  // Closing wakes every caller of take(), which then returns nullopt.
  void close();
  bool closed() const;

  // Waits until no item is queued or being processed, up to `timeout`
  // (unset: as long as it takes). True when drained.
  bool wait_drained(std::optional<std::chrono::milliseconds> timeout);
  // Removes and returns every queued item (taken ones are not affected).
  std::vector<WorkItem> take_all();
  std::size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  // Threads waiting in take() for work (for tests' rendezvous).
  int sleepers() const {
    std::lock_guard lock(mutex_);
    return sleeping_;
  }

 private:
  struct Entry {
    WorkItem item;
    std::uint64_t sequence;
    bool operator>(const Entry& other) const {
      return item.priority != other.item.priority ? item.priority > other.item.priority
                                                  : sequence > other.sequence;
    }
  };
  // Busy-waits briefly for an item, one thread at a time; true if one came.
  bool spin_for_work();
  // Sleeps until this thread should take queued work (true), or until the
  // idle timeout, a pause or the close (false). mutex_ held.
  bool wait_for_work(std::unique_lock<std::mutex>& lock, int slot);
  // mutex_ held.
  bool slot_paused(int slot) const { return slot >= 0 && slot < threads_ && slot_paused_[slot]; }
  // The threads that may take work: those not paused one by one. mutex_ held.
  int takers() const { return threads_ - paused_slots_; }

  const int threads_;
  const bool spin_;
  const std::chrono::milliseconds idle_timeout_;
  const WorkQueueTuning tuning_;
  const std::function<bool()> spin_fetch_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable drained_or_parked_;
  // Parked threads wait on their own: a push's notify_one must reach a sleeper.
  std::condition_variable resumed_;
  // A heap whose entries can be counted by age (the watcher's staleness test).
  struct Items : std::priority_queue<Entry, std::vector<Entry>, std::greater<>> {
    int count_older_than(std::uint64_t sequence) const;
  };
  Items items_;
  std::uint64_t sequence_ = 0;
  std::size_t unfinished_ = 0;  // queued plus being processed
  bool paused_ = false;
  bool closed_ = false;
  int parked_ = 0;
  std::vector<char> slot_paused_;  // per slot: pause_slot() asked it to park
  std::vector<char> slot_parked_;  // per slot: parked in take()
  int paused_slots_ = 0;           // slots with slot_paused_ set
  // Readable without the lock, for the spinning thread.
  std::atomic<std::size_t> queued_{0};
  std::atomic<int> filling_{0};  // batches being pushed (changed under mutex_)
  std::atomic<bool> interrupted_{false};  // paused or closed
  std::atomic<bool> spinning_{false};     // a thread is in spin_for_work()
  // Wake-up bookkeeping (mutex_): see wake_for_work and wait_for_work.
  int sleeping_ = 0;            // threads in wait_for_work
  int wake_grants_ = 0;         // sleepers allowed to take work right away
  bool watcher_armed_ = false;  // a sleeper checks for stale work every stale_work_check
};

}  // namespace dramatiq
