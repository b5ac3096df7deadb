// Interrupting a worker thread that is running an actor: how TimeLimit and
// ShutdownNotifications stop a running actor. The host installs the
// mechanism (Python raises an asynchronous exception in the thread).
#pragma once

#include <functional>

namespace dramatiq {

enum class InterruptKind { TimeLimitExceeded, Shutdown };
using ThreadId = unsigned long;  // pthread_self(), which is also Python's thread ident

ThreadId current_thread_id();
void set_interrupter(std::function<void(ThreadId, InterruptKind)> interrupter);
// Returns false when no interrupter is installed (C++-only programs).
bool interrupt_thread(ThreadId thread, InterruptKind kind);

}  // namespace dramatiq
