// ShutdownNotifications: interrupts actors that asked for it when the worker stops.
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "dramatiq/interrupt.hpp"
#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Interrupts actors that asked for it (notify_shutdown) when the worker stops.
class ShutdownNotifications : public Middleware {
 public:
  explicit ShutdownNotifications(bool notify_shutdown = false) : notify_shutdown(notify_shutdown) {}
  std::string name() const override { return "ShutdownNotifications"; }
  std::vector<std::string> actor_options() const override { return {"notify_shutdown"}; }
  void before_worker_shutdown(Broker&, Worker&) override;
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;

  // Whether a message with these options, of an actor with these options,
  // is interrupted at shutdown: the message's notify_shutdown unless unset
  // (null), else the actor's unless unset, else `notify_shutdown`.
  bool should_notify(const Value& message_options, const Value& actor_options) const;
  // Interrupts every thread running a message that should be notified
  // (what before_worker_shutdown does).
  void notify_threads();
  // The threads running such a message now; replacing them is for hosts
  // that show this state (Python's `manager.notifications`).
  std::set<ThreadId> notified_threads() const;
  void set_notified_threads(std::set<ThreadId> threads);

  bool notify_shutdown;

 private:
  mutable std::mutex mutex_;
  std::set<ThreadId> running_;
};

}  // namespace dramatiq
