#pragma once

#include "dramatiq/worker.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

// Hooks that attach engine threads to the interpreter.
ThreadHooks python_thread_hooks();
// Routes engine logging to `logging` and interrupts to async exceptions.
void install_runtime();

}  // namespace dramatiq::python
