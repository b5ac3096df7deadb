#pragma once

#include "dramatiq/worker.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

// On an engine worker thread: takes the GIL and keeps it across messages
// until the worker yields (ThreadHooks::on_yield). Returns false on other
// threads, which must use nb::gil_scoped_acquire instead.
bool hold_gil();
// Hooks that attach engine threads to the interpreter.
ThreadHooks python_thread_hooks();
// Routes engine logging to `logging` and interrupts to async exceptions.
void install_runtime();

}  // namespace dramatiq::python
