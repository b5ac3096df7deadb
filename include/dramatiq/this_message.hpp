// The message the calling thread is processing, for code running inside an
// actor or a hook. The worker publishes it around every message it runs,
// whatever middleware the broker has.
#pragma once

#include "dramatiq/message_proxy.hpp"

namespace dramatiq::this_message {

// The message being processed on this thread, or nullptr.
MessageProxy* get();

// Publishes `message` as this thread's current message for the scope's
// lifetime, then restores what was current before.
class Scope {
 public:
  explicit Scope(MessageProxy* message);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  MessageProxy* previous_;
};

// For hooks that run outside a worker (hooks emitted by hand): sets the
// current message without a scope.
void set(MessageProxy* message);

// Cooperative interruption for C++ actors. A C++ actor cannot be stopped
// from outside the way a Python one is (an exception raised into its
// thread), so when TimeLimit or ShutdownNotifications interrupt it, the
// interrupt waits here until the actor looks: call interrupted() (or
// check_interrupted()) in long loops and between steps.
//
// Whether this thread's current message was interrupted (time limit
// exceeded, or shutdown with notify_shutdown).
bool interrupted();
// Throws dramatiq::TimeLimitExceeded or dramatiq::Shutdown (interrupt.hpp)
// when the current message was interrupted; otherwise returns.
void check_interrupted();

}  // namespace dramatiq::this_message
