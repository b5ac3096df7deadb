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

// The Logger method upstream calls for a level: tests and plugins patch
// `logging.Logger.warning` and friends, which `Logger.log` would bypass.
const char* logger_method(log::Level level) {
  switch (level) {
    case log::Level::Debug: return "debug";
    case log::Level::Info: return "info";
    case log::Level::Warning: return "warning";
    case log::Level::Error: return "error";
    case log::Level::Critical: return "critical";
  }
  return "error";
}

nb::object arg_to_python(const log::Arg& arg) {
  if (const auto* text = std::get_if<std::string>(&arg)) return text_to_python(*text);
  if (const auto* integer = std::get_if<std::int64_t>(&arg)) return nb::int_(*integer);
  return nb::float_(std::get<double>(arg));
}

// Percent signs in text appended to a format must stay literal.
std::string escape_percent(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

void log_to_python(const log::Record& record) {
  if (!interpreter_alive()) return;
  nb::gil_scoped_acquire gil;
  try {
    // The text may hold anything a message held (lone surrogates, bytes
    // from C++): text_to_python never fails on it.
    nb::object py_logger = registry().get_logger(text_to_python(record.logger));
    // Format and arguments go to logging as upstream passes them, so a
    // record's msg and args are upstream's.
    std::string format(record.format);
    const Failure* failure = record.failure;
    auto* exception = failure ? dynamic_cast<const PyObjectRef*>(failure->host_exception.get()) : nullptr;
    if (failure && !exception) {
      std::string reason = "\n" + failure->type_name + ": " + failure->message;
      format += record.args.empty() ? reason : escape_percent(reason);
    }
    nb::list call_args;
    call_args.append(text_to_python(format));
    for (const log::Arg& arg : record.args) call_args.append(arg_to_python(arg));
    nb::dict call_kwargs;
    if (exception) call_kwargs["exc_info"] = exception->object();
    py_logger.attr(logger_method(record.level))(*nb::tuple(call_args), **call_kwargs);
  } catch (...) {
    // Logging must never take a worker down, and must not leave a Python
    // error set: the next call into Python would fail with it half-way,
    // e.g. inside logging's module lock, which then stays held for ever.
    PyErr_Clear();
  }
}

// The function the middleware's module names `raise_thread_exception`
// when it is not dramatiq.threading's own (patched by a test or a plugin,
// as upstream's middleware calls it by that name); else none.
nb::object replaced_raise_thread_exception(InterruptKind kind) {
  const Registry& r = registry();
  if (!r.raise_thread_exception.is_valid()) return nb::object();
  if (kind == InterruptKind::Cancelled) return nb::object();  // no upstream module raises it
  const char* module_name =
      kind == InterruptKind::TimeLimitExceeded ? "dramatiq.middleware.time_limit" : "dramatiq.middleware.shutdown";
  nb::object modules = nb::module_::import_("sys").attr("modules");
  nb::object module = modules.attr("get")(module_name);
  if (module.is_none()) return nb::object();
  nb::object current = nb::getattr(module, "raise_thread_exception", nb::none());
  if (current.is_none() || current.is(r.raise_thread_exception)) return nb::object();
  return current;
}

void interrupt_in_python(ThreadId thread, InterruptKind kind) {
  if (!interpreter_alive()) return;
  nb::gil_scoped_acquire gil;
  const nb::object& exception = kind == InterruptKind::TimeLimitExceeded ? registry().time_limit_exceeded
                                : kind == InterruptKind::Cancelled       ? registry().cancelled
                                                                         : registry().shutdown;
  if (!exception.is_valid()) return;
  try {
    if (nb::object replaced = replaced_raise_thread_exception(kind); replaced.is_valid()) {
      replaced(thread, exception);
      return;
    }
  } catch (...) {
    // Interrupting is best effort, as upstream's (which logs and goes on).
    PyErr_Clear();
    return;
  }
  PyThreadState_SetAsyncExc(thread, exception.ptr());
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
  // Every record goes to its Logger method, which filters by level itself,
  // as upstream's calls do (and a patched method sees them all); the
  // engine's few debug records are rare (a rate limit hit, a start-up).
  log::set_min_level(log::Level::Debug);
  set_interrupter(interrupt_in_python);
}

}  // namespace dramatiq::python
