#include "dramatiq/this_message.hpp"

#include "dramatiq/interrupt.hpp"

namespace dramatiq::this_message {

namespace {
thread_local MessageProxy* current = nullptr;
}

MessageProxy* get() { return current; }
void set(MessageProxy* message) { current = message; }

bool interrupted() { return pending_interrupt().has_value(); }

void check_interrupted() {
  auto kind = pending_interrupt();
  if (!kind) return;
  if (*kind == InterruptKind::TimeLimitExceeded) throw TimeLimitExceeded("time limit exceeded");
  if (*kind == InterruptKind::Cancelled) throw Cancelled("the message was cancelled");
  throw Shutdown("worker is shutting down");
}

Scope::Scope(MessageProxy* message) : previous_(current) { current = message; }
Scope::~Scope() { current = previous_; }

}  // namespace dramatiq::this_message
