#include "worker/work_queue.hpp"

#include <algorithm>

namespace dramatiq {

WorkQueue::WorkQueue(int threads, bool spin, std::chrono::milliseconds idle_timeout,
                     WorkQueueTuning tuning, std::function<bool()> spin_fetch)
    : threads_(std::max(1, threads)), spin_(spin),
      idle_timeout_(std::max(idle_timeout, std::chrono::milliseconds(1))), tuning_(tuning),
      spin_fetch_(std::move(spin_fetch)), slot_paused_(threads_, 0), slot_parked_(threads_, 0) {}

void WorkQueue::push(WorkItem item) {
  std::lock_guard lock(mutex_);
  items_.push(Entry{std::move(item), sequence_++});
  unfinished_ += 1;
  queued_ = items_.size();
}

void WorkQueue::begin_batch() {
  std::lock_guard lock(mutex_);
  filling_ += 1;
}

void WorkQueue::end_batch() {
  std::lock_guard lock(mutex_);
  filling_ -= 1;
}

void WorkQueue::wake_for_work() {
  if (spinning_) return;  // the spinning thread takes it
  bool wake;
  {
    std::lock_guard lock(mutex_);
    if (items_.empty() || sleeping_ == 0) return;
    if (sleeping_ >= takers()) {
      wake = true;
      wake_grants_ = std::max(wake_grants_, 1);
    } else {
      wake = !watcher_armed_;  // the one woken arms itself
    }
  }
  if (wake) work_ready_.notify_one();
}

std::optional<WorkItem> WorkQueue::take(const std::function<void()>& before_sleep, int slot) {
  std::unique_lock lock(mutex_);
  if (items_.empty() && !paused_ && !closed_ && !slot_paused(slot) && spin_) {
    // The caller's host lock (the GIL) stays held while spinning: handing
    // it over here would cost the switch the spin is there to avoid.
    lock.unlock();
    spin_for_work();
    lock.lock();
  }
  if ((items_.empty() || paused_ || closed_ || slot_paused(slot)) && before_sleep) {
    lock.unlock();
    before_sleep();
    lock.lock();
  }
  if (closed_) return std::nullopt;
  if (paused_ || slot_paused(slot)) {
    parked_ += 1;
    if (slot >= 0 && slot < threads_) slot_parked_[slot] = 1;
    drained_or_parked_.notify_all();
    resumed_.wait(lock, [&] { return (!paused_ && !slot_paused(slot)) || closed_; });
    if (slot >= 0 && slot < threads_) slot_parked_[slot] = 0;
    parked_ -= 1;
    return std::nullopt;
  }
  if (!wait_for_work(lock, slot)) return std::nullopt;
  // priority_queue only hands out a const top; the entry is popped at once.
  WorkItem item = std::move(const_cast<Entry&>(items_.top()).item);
  items_.pop();
  queued_ = items_.size();
  if (items_.empty()) wake_grants_ = 0;  // nothing left for sleepers already woken
  // Work is left and nobody watches it: have a sleeper do so, in case this
  // item keeps the caller busy for long.
  bool arm_watcher = !items_.empty() && !watcher_armed_ && sleeping_ > 0;
  lock.unlock();
  if (arm_watcher) work_ready_.notify_one();
  return item;
}

void WorkQueue::done() {
  bool drained;
  {
    std::lock_guard lock(mutex_);
    unfinished_ -= 1;
    drained = unfinished_ == 0;
  }
  // Waking waiters per item would cost a context switch each time.
  if (drained) drained_or_parked_.notify_all();
}

int WorkQueue::Items::count_older_than(std::uint64_t sequence) const {
  int count = 0;
  for (const Entry& entry : c) count += entry.sequence < sequence ? 1 : 0;
  return count;
}

bool WorkQueue::wait_for_work(std::unique_lock<std::mutex>& lock, int slot) {
  if (!items_.empty() && filling_ == 0) return true;
  sleeping_ += 1;
  bool watching = false;
  bool take = false;
  // Items with a lower sequence were queued at the watcher's previous look.
  std::uint64_t queued_before = sequence_;
  auto deadline = std::chrono::steady_clock::now() + idle_timeout_;
  while (!closed_ && !paused_ && !slot_paused(slot)) {
    if (!items_.empty() && wake_grants_ > 0 && filling_ == 0) {
      wake_grants_ -= 1;
      take = true;
      break;
    }
    if (!watching && !watcher_armed_ && sleeping_ < takers()) {
      watching = watcher_armed_ = true;
      queued_before = sequence_;
    }
    auto wake_at = deadline;
    if (watching) {
      wake_at = std::min(deadline, std::chrono::steady_clock::now() + tuning_.stale_work_check);
    }
    if (work_ready_.wait_until(lock, wake_at) == std::cv_status::no_timeout) continue;
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (watching) {
      // Items that waited a whole period: the awake threads are busy (long
      // actors, or actors waiting on I/O). A thread churning through quick
      // actors takes everything within a period, and nobody is woken.
      int stale = items_.count_older_than(queued_before);
      if (stale > 0) {
        wake_grants_ = std::min(stale, sleeping_) - 1;
        for (int i = 0; i < wake_grants_; ++i) work_ready_.notify_one();
        take = true;
        break;
      }
      if (items_.empty() && sequence_ == queued_before) {
        watching = watcher_armed_ = false;  // all quiet: sleep until the next push
      }
    }
    queued_before = sequence_;
  }
  if (watching) watcher_armed_ = false;
  sleeping_ -= 1;
  return take;
}

bool WorkQueue::spin_for_work() {
  // When messages arrive about as fast as they are processed, the queue is
  // often empty for a few microseconds only: sleeping then means one
  // wake-up per message. One thread waits actively instead, for a while.
  bool expected = false;
  if (!spinning_.compare_exchange_strong(expected, true)) return false;
  auto until = std::chrono::steady_clock::now() + tuning_.spin_time;
  bool found = false;
  while (!found && std::chrono::steady_clock::now() < until) {
    found = (queued_.load(std::memory_order_relaxed) > 0 && filling_.load(std::memory_order_relaxed) == 0) ||
            interrupted_.load(std::memory_order_relaxed) || (spin_fetch_ && spin_fetch_());
  }
  spinning_ = false;
  return found;
}

void WorkQueue::set_paused(bool paused) {
  {
    std::lock_guard lock(mutex_);
    paused_ = paused;
    interrupted_ = paused_ || closed_;
  }
  work_ready_.notify_all();
  resumed_.notify_all();
}

void WorkQueue::pause_slot(int slot) {
  {
    std::lock_guard lock(mutex_);
    if (slot < 0 || slot >= threads_ || slot_paused_[slot]) return;
    slot_paused_[slot] = 1;
    paused_slots_ += 1;
  }
  work_ready_.notify_all();  // a sleeping one parks now
}

void WorkQueue::resume_slot(int slot) {
  {
    std::lock_guard lock(mutex_);
    if (slot < 0 || slot >= threads_ || !slot_paused_[slot]) return;
    slot_paused_[slot] = 0;
    paused_slots_ -= 1;
  }
  resumed_.notify_all();
}

void WorkQueue::resume_slots() {
  {
    std::lock_guard lock(mutex_);
    std::fill(slot_paused_.begin(), slot_paused_.end(), 0);
    paused_slots_ = 0;
  }
  resumed_.notify_all();
}

bool WorkQueue::wait_slot_parked(int slot, std::chrono::milliseconds timeout) {
  if (slot < 0 || slot >= threads_) return false;
  std::unique_lock lock(mutex_);
  drained_or_parked_.wait_for(lock, timeout, [&] { return slot_parked_[slot] || closed_; });
  return slot_parked_[slot] && !closed_;
}

bool WorkQueue::wait_until_parked(int count) {
  std::unique_lock lock(mutex_);
  drained_or_parked_.wait(lock, [&] { return parked_ >= count || closed_; });
  return !closed_;
}

void WorkQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    interrupted_ = true;
  }
  work_ready_.notify_all();
  resumed_.notify_all();
  drained_or_parked_.notify_all();
}

bool WorkQueue::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool WorkQueue::wait_drained(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(mutex_);
  auto drained = [&] { return unfinished_ == 0; };
  if (!timeout) {
    drained_or_parked_.wait(lock, drained);
    return true;
  }
  return drained_or_parked_.wait_for(lock, *timeout, drained);
}

std::vector<WorkItem> WorkQueue::take_all() {
  std::vector<WorkItem> taken;
  bool drained;
  {
    std::lock_guard lock(mutex_);
    while (!items_.empty()) {
      taken.push_back(std::move(const_cast<Entry&>(items_.top()).item));
      items_.pop();
    }
    queued_ = 0;
    unfinished_ -= taken.size();
    drained = unfinished_ == 0;
  }
  if (drained) drained_or_parked_.notify_all();
  return taken;
}

}  // namespace dramatiq
