#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

namespace {
thread_local MessageProxy* current_message = nullptr;
}

MessageProxy* CurrentMessage::current() { return current_message; }
void CurrentMessage::set_current(MessageProxy* message) { current_message = message; }

void CurrentMessage::before_process_message(Broker&, MessageProxy& message) {
  current_message = &message;
}

void CurrentMessage::after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) {
  current_message = nullptr;
}

void CurrentMessage::after_skip_message(Broker&, MessageProxy&) { current_message = nullptr; }

}  // namespace dramatiq
