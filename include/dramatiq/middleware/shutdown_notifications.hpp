// ShutdownNotifications: interrupts actors that asked for it when the worker stops.
#pragma once

#include <map>
#include <mutex>

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
  bool notify_shutdown;

 private:
  std::mutex mutex_;
  std::map<ThreadId, bool> running_;
};

}  // namespace dramatiq
