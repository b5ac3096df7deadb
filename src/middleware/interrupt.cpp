#include "dramatiq/interrupt.hpp"

#include <pthread.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

namespace dramatiq {

namespace {
std::mutex interrupter_mutex;
std::shared_ptr<std::function<void(ThreadId, InterruptKind)>> interrupter;

// 0 when nothing is pending, else 1 + the InterruptKind.
using PendingFlag = std::atomic<int>;

std::mutex pending_mutex;
std::map<ThreadId, PendingFlag*> pending_flags;  // threads that ran a message

// A thread's flag, listed in pending_flags for as long as the thread lives.
struct PendingRegistration {
  PendingFlag flag{0};
  ThreadId thread = current_thread_id();
  PendingRegistration() {
    std::lock_guard lock(pending_mutex);
    pending_flags[thread] = &flag;
  }
  ~PendingRegistration() {
    std::lock_guard lock(pending_mutex);
    pending_flags.erase(thread);
  }
};

PendingFlag& this_thread_flag() {
  thread_local PendingRegistration registration;
  return registration.flag;
}
}  // namespace

std::optional<InterruptKind> pending_interrupt() {
  int value = this_thread_flag().load(std::memory_order_acquire);
  if (value == 0) return std::nullopt;
  return static_cast<InterruptKind>(value - 1);
}

void clear_pending_interrupt() { this_thread_flag().store(0, std::memory_order_release); }

ThreadId current_thread_id() { return static_cast<ThreadId>(pthread_self()); }

void set_interrupter(std::function<void(ThreadId, InterruptKind)> fn) {
  std::lock_guard lock(interrupter_mutex);
  interrupter = fn ? std::make_shared<std::function<void(ThreadId, InterruptKind)>>(std::move(fn))
                   : nullptr;
}

bool interrupt_thread(ThreadId thread, InterruptKind kind) {
  {
    std::lock_guard lock(pending_mutex);
    auto found = pending_flags.find(thread);
    if (found != pending_flags.end()) {
      found->second->store(static_cast<int>(kind) + 1, std::memory_order_release);
    }
  }
  std::shared_ptr<std::function<void(ThreadId, InterruptKind)>> fn;
  {
    std::lock_guard lock(interrupter_mutex);
    fn = interrupter;
  }
  if (!fn) return false;
  (*fn)(thread, kind);
  return true;
}

}  // namespace dramatiq
