#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

void ShutdownNotifications::before_worker_shutdown(Broker&, Worker&) {
  std::lock_guard lock(mutex_);
  for (auto& [thread, running] : running_) {
    if (!running) continue;
    log::write(log::Level::Info, "dramatiq.middleware.shutdown.ShutdownNotifications",
               "Worker shutdown notification. Raising exception in worker thread " +
                   std::to_string(thread) + ".");
    interrupt_thread(thread, InterruptKind::Shutdown);
  }
}

void ShutdownNotifications::before_process_message(Broker& broker, MessageProxy& message) {
  auto actor = broker.actor_of(message);
  Value notify = message_or_actor_option(message, *actor, "notify_shutdown", Value(notify_shutdown));
  if (notify.is_bool() ? notify.as_bool() : !notify.is_null()) {
    std::lock_guard lock(mutex_);
    running_[current_thread_id()] = true;
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

}  // namespace dramatiq
