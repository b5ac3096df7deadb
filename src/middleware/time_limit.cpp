#include <algorithm>
#include <cmath>

#include "core/saturating.hpp"
#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

TimeLimit::TimeLimit(Value time_limit, std::int64_t interval)
    : time_limit(std::move(time_limit)), interval(interval) {}

TimeLimit::~TimeLimit() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void TimeLimit::start_monitor() {
  std::lock_guard lock(mutex_);
  if (monitor_.joinable() || stopping_) return;
  monitor_ = std::thread([this] { monitor(); });
}

void TimeLimit::monitor() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    stop_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(1, interval)));
    if (stopping_) break;
    lock.unlock();
    check_deadlines();
    lock.lock();
  }
}

void TimeLimit::check_deadlines() {
  auto now = std::chrono::steady_clock::now();
  std::vector<ThreadId> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (now >= it->second) {
        expired.push_back(it->first);
        it = deadlines_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (ThreadId thread : expired) {
    log::write(log::Level::Warning, "dramatiq.middleware.time_limit.TimeLimit",
               "Time limit exceeded. Raising exception in worker thread %r.",
               {static_cast<std::int64_t>(thread)});
    interrupt_thread(thread, InterruptKind::TimeLimitExceeded);
  }
}

TimeLimit::Deadlines TimeLimit::deadlines() const {
  std::lock_guard lock(mutex_);
  return deadlines_;
}

void TimeLimit::set_deadlines(Deadlines deadlines) {
  std::lock_guard lock(mutex_);
  deadlines_ = std::move(deadlines);
}

void TimeLimit::before_process_message(Broker& broker, MessageProxy& message) {
  auto actor = broker.actor_of(message);
  Value limit = message_or_actor_option(message, *actor, "time_limit", time_limit);
  if (!limit.is_number() || std::isinf(limit.as_number())) return;
  // Upstream starts the monitor at process boot; starting it on first use
  // too means a plain Worker (no process_boot) still enforces limits.
  start_monitor();
  // A producer's limit may be huge: 31 years from now is as good as never,
  // and the clock must not overflow.
  double microseconds = std::min(limit.as_number() * 1000, 1e15);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(saturating_int64(microseconds, 0));
  std::lock_guard lock(mutex_);
  deadlines_[current_thread_id()] = deadline;
}

void TimeLimit::after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) {
  std::lock_guard lock(mutex_);
  deadlines_.erase(current_thread_id());
}

void TimeLimit::after_skip_message(Broker& broker, MessageProxy& message) {
  after_process_message(broker, message, nullptr, nullptr);
}

}  // namespace dramatiq
