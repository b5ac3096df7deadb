#include "dramatiq/interrupt.hpp"

#include <pthread.h>

#include <memory>
#include <mutex>

namespace dramatiq {

namespace {
std::mutex interrupter_mutex;
std::shared_ptr<std::function<void(ThreadId, InterruptKind)>> interrupter;
}  // namespace

ThreadId current_thread_id() { return static_cast<ThreadId>(pthread_self()); }

void set_interrupter(std::function<void(ThreadId, InterruptKind)> fn) {
  std::lock_guard lock(interrupter_mutex);
  interrupter = fn ? std::make_shared<std::function<void(ThreadId, InterruptKind)>>(std::move(fn))
                   : nullptr;
}

bool interrupt_thread(ThreadId thread, InterruptKind kind) {
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
