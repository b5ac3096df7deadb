// Interrupting a worker thread that is running an actor: how TimeLimit and
// ShutdownNotifications stop a running actor. The host installs the
// mechanism (Python raises an asynchronous exception in the thread). C++
// code cannot be interrupted from outside, so every interrupt is also left
// pending on the thread, for C++ actors to notice at their check points
// (dramatiq::this_message::interrupted()).
#pragma once

#include <functional>
#include <optional>

#include "dramatiq/errors.hpp"

namespace dramatiq {

enum class InterruptKind { TimeLimitExceeded, Shutdown, Cancelled };
using ThreadId = unsigned long;  // pthread_self(), which is also Python's thread ident

ThreadId current_thread_id();
void set_interrupter(std::function<void(ThreadId, InterruptKind)> interrupter);
// Leaves `kind` pending on `thread` (if it is a worker thread) and calls the
// host's interrupter. Returns false when no interrupter is installed
// (C++-only programs: only the pending interrupt remains).
bool interrupt_thread(ThreadId thread, InterruptKind kind);

// The interrupt pending on the calling thread since its current message
// started, if any.
std::optional<InterruptKind> pending_interrupt();
// Forgets the calling thread's pending interrupt: the worker calls it before
// each message, so an interrupt meant for one message is not seen by the next.
void clear_pending_interrupt();

// What a C++ actor's check point throws when interrupted.
class Interrupted : public DramatiqError {
 public:
  using DramatiqError::DramatiqError;
};
// The message ran past its time_limit (TimeLimit middleware).
class TimeLimitExceeded : public Interrupted {
 public:
  using Interrupted::Interrupted;
};
// The worker is stopping and the actor asked to be told (notify_shutdown).
class Shutdown : public Interrupted {
 public:
  using Interrupted::Interrupted;
};
// The message was cancelled while it ran (Broker::cancel); not retried.
class Cancelled : public Interrupted {
 public:
  using Interrupted::Interrupted;
};

}  // namespace dramatiq
