#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/this_message.hpp"

namespace dramatiq {

namespace {
// Whether this thread's current message was set by the hooks below rather
// than by a worker's scope.
thread_local bool set_by_hook = false;
}  // namespace

MessageProxy* CurrentMessage::current() { return this_message::get(); }

// Inside a worker the message is already current. These hooks serve hooks
// emitted by hand outside a worker (e.g. an eager broker running actors in
// the producer's thread), and clear only what they set.
void CurrentMessage::before_process_message(Broker&, MessageProxy& message) {
  if (this_message::get() != nullptr) return;
  this_message::set(&message);
  set_by_hook = true;
}

void CurrentMessage::after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) {
  if (!set_by_hook) return;
  this_message::set(nullptr);
  set_by_hook = false;
}

void CurrentMessage::after_skip_message(Broker& broker, MessageProxy& message) {
  after_process_message(broker, message, nullptr, nullptr);
}

}  // namespace dramatiq
