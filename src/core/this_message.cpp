#include "dramatiq/this_message.hpp"

namespace dramatiq::this_message {

namespace {
thread_local MessageProxy* current = nullptr;
}

MessageProxy* get() { return current; }
void set(MessageProxy* message) { current = message; }

Scope::Scope(MessageProxy* message) : previous_(current) { current = message; }
Scope::~Scope() { current = previous_; }

}  // namespace dramatiq::this_message
