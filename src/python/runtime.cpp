// Process-wide glue between the engine and the interpreter: engine threads
// attaching to Python, engine log records going to `logging`, and actor
// interruption through asynchronous exceptions.
#include "runtime.hpp"

#include "dramatiq/interrupt.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq::python {

namespace {
// Whether engine threads may still take the GIL. During finalization a
// thread that takes it is ended on the spot (unwound by force), which
// terminates the process when that happens inside a C++ handler; engine
// threads that outlive the interpreter's main code drop their logs instead.
bool interpreter_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// Each engine thread keeps one Python thread state for its whole life, so
// taking the GIL per message is a plain lock, not a thread-state setup.
thread_local PyGILState_STATE attached_state;
thread_local PyThreadState* detached_thread = nullptr;
thread_local bool holding_gil = false;  // kept across messages by hold_gil()

void attach_thread() {
  if (!Py_IsInitialized()) return;
  attached_state = PyGILState_Ensure();
  detached_thread = PyEval_SaveThread();
}

void release_held_gil() {
  if (!holding_gil) return;
  detached_thread = PyEval_SaveThread();
  holding_gil = false;
}

void detach_thread() {
  if (!detached_thread || !Py_IsInitialized()) return;
  if (!holding_gil) PyEval_RestoreThread(detached_thread);
  holding_gil = false;
  PyGILState_Release(attached_state);
  detached_thread = nullptr;
}

void log_to_python(log::Level level, std::string_view logger, std::string_view message,
                   const Failure* failure) {
  if (!interpreter_alive()) return;
  nb::gil_scoped_acquire gil;
  try {
    // The text may hold anything a message held (lone surrogates, bytes
    // from C++): text_to_python never fails on it.
    nb::object py_logger = registry().get_logger(text_to_python(logger));
    int py_level = static_cast<int>(level);
    if (!nb::cast<bool>(py_logger.attr("isEnabledFor")(py_level))) return;
    nb::str text = text_to_python(message);
    auto* exception = failure ? dynamic_cast<const PyObjectRef*>(failure->host_exception.get()) : nullptr;
    if (exception) {
      py_logger.attr("log")(py_level, text, nb::arg("exc_info") = exception->object());
    } else if (failure) {
      std::string with_reason = std::string(message) + "\n" + failure->type_name + ": " + failure->message;
      py_logger.attr("log")(py_level, text_to_python(with_reason));
    } else {
      py_logger.attr("log")(py_level, text);
    }
  } catch (...) {
    // Logging must never take a worker down, and must not leave a Python
    // error set: the next call into Python would fail with it half-way,
    // e.g. inside logging's module lock, which then stays held for ever.
    PyErr_Clear();
  }
}

void interrupt_in_python(ThreadId thread, InterruptKind kind) {
  if (!interpreter_alive()) return;
  nb::gil_scoped_acquire gil;
  const nb::object& exception =
      kind == InterruptKind::TimeLimitExceeded ? registry().time_limit_exceeded : registry().shutdown;
  if (exception.is_valid()) PyThreadState_SetAsyncExc(thread, exception.ptr());
}
}  // namespace

bool hold_gil() {
  if (holding_gil) return true;
  if (!detached_thread) return false;  // not an engine thread
  PyEval_RestoreThread(detached_thread);
  holding_gil = true;
  return true;
}

ThreadHooks python_thread_hooks() { return ThreadHooks{attach_thread, detach_thread, release_held_gil}; }

void install_runtime() {
  log::set_sink(log_to_python);
  set_interrupter(interrupt_in_python);
}

}  // namespace dramatiq::python
