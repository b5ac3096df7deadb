#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
constexpr const char* kLogger = "dramatiq.middleware.shutdown.ShutdownNotifications";
}

bool ShutdownNotifications::should_notify(const Value& message_options, const Value& actor_options) const {
  const Value* notify = message_options.find("notify_shutdown");
  if (!notify || notify->is_null()) notify = actor_options.find("notify_shutdown");
  if (!notify || notify->is_null()) return notify_shutdown;
  return truthy(*notify);
}

void ShutdownNotifications::notify_threads() {
  log::write(log::Level::Debug, kLogger, "Sending shutdown notification to worker threads...");
  // Interrupted outside the lock: a host's interrupter may run code (a
  // patched Python function) that ends up in this middleware's hooks.
  for (ThreadId thread : notified_threads()) {
    log::write(log::Level::Info, kLogger, "Worker shutdown notification. Raising exception in worker thread %r.",
               {static_cast<std::int64_t>(thread)});
    interrupt_thread(thread, InterruptKind::Shutdown);
  }
}

void ShutdownNotifications::before_worker_shutdown(Broker&, Worker&) { notify_threads(); }

void ShutdownNotifications::before_process_message(Broker& broker, MessageProxy& message) {
  auto actor = broker.actor_of(message);
  if (should_notify(message.message.options, actor->options)) {
    std::lock_guard lock(mutex_);
    running_.insert(current_thread_id());
  }
}

void ShutdownNotifications::after_process_message(Broker&, MessageProxy&, const Value*,
                                                  const Failure*) {
  std::lock_guard lock(mutex_);
  running_.erase(current_thread_id());
}

void ShutdownNotifications::after_skip_message(Broker& broker, MessageProxy& message) {
  after_process_message(broker, message, nullptr, nullptr);
}

std::set<ThreadId> ShutdownNotifications::notified_threads() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void ShutdownNotifications::set_notified_threads(std::set<ThreadId> threads) {
  std::lock_guard lock(mutex_);
  running_ = std::move(threads);
}

}  // namespace dramatiq
