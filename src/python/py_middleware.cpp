#include "py_middleware.hpp"

#include <optional>

#include "dramatiq/worker.hpp"

namespace dramatiq::python {

namespace {
#define DRAMATIQ_HOOK_NAME(name, shape, doc) #name,
constexpr const char* kHookNames[] = {DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_HOOK_NAME)};
#undef DRAMATIQ_HOOK_NAME

// The Python parameters of each shape, as the call() overloads below pass
// them (upstream's parameter names).
struct PythonParameters {
  std::vector<const char*> positional;
  std::vector<const char*> keyword;
};
const PythonParameters kPythonParameters_message{{"broker", "message"}, {}};
const PythonParameters kPythonParameters_actor{{"broker", "actor"}, {}};
const PythonParameters kPythonParameters_queue{{"broker", "queue_name"}, {}};
const PythonParameters kPythonParameters_enqueue{{"broker", "message", "delay"}, {}};
const PythonParameters kPythonParameters_processed{{"broker", "message"}, {"result", "exception"}};
const PythonParameters kPythonParameters_process{{"broker"}, {}};
const PythonParameters kPythonParameters_worker{{"broker", "worker"}, {}};
const PythonParameters kPythonParameters_thread{{"broker", "thread"}, {}};

// Makes `exception` the exception being handled (what sys.exc_info()
// returns) while it lives: upstream calls after_process_message from inside
// its except block, and middleware read the traceback from there
// (django-dramatiq stores it with the task).
class HandledException {
 public:
  explicit HandledException(nb::handle exception) {
    PyErr_GetExcInfo(&saved_type_, &saved_value_, &saved_traceback_);
    PyObject* traceback = PyException_GetTraceback(exception.ptr());  // new reference or null
    PyErr_SetExcInfo(nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr()))).inc_ref().ptr(),
                     exception.inc_ref().ptr(), traceback);
  }
  ~HandledException() { PyErr_SetExcInfo(saved_type_, saved_value_, saved_traceback_); }
  HandledException(const HandledException&) = delete;
  HandledException& operator=(const HandledException&) = delete;

 private:
  PyObject* saved_type_ = nullptr;
  PyObject* saved_value_ = nullptr;
  PyObject* saved_traceback_ = nullptr;
};

}  // namespace

const char* hook_name(Hook hook) { return kHookNames[static_cast<std::size_t>(hook)]; }

const std::vector<PythonHookSpec>& python_hook_specs() {
#define DRAMATIQ_HOOK_SPEC(name, shape, doc) \
  {#name, kPythonParameters_##shape.positional, kPythonParameters_##shape.keyword, doc},
  static const std::vector<PythonHookSpec> specs{DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_HOOK_SPEC)};
#undef DRAMATIQ_HOOK_SPEC
  return specs;
}

PyMiddleware::PyMiddleware(nb::object middleware, const std::vector<std::string>& hooks,
                           nb::object broker)
    : middleware_(std::move(middleware)), broker_ref_(std::move(broker)) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(Hook::count); ++i) {
    for (const auto& name : hooks) {
      if (name == kHookNames[i]) hooks_.set(i);
    }
  }
  name_ = nb::cast<std::string>(nb::getattr(middleware_.type(), "__name__"));
}

PyMiddleware::~PyMiddleware() {
  if (!Py_IsInitialized()) {
    middleware_.release();
    broker_ref_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  middleware_.reset();
  broker_ref_.reset();
}

std::vector<std::string> PyMiddleware::actor_options() const {
  nb::gil_scoped_acquire gil;
  std::vector<std::string> names;
  for (nb::handle option : nb::getattr(middleware_, "actor_options")) {
    names.push_back(nb::cast<std::string>(option));
  }
  return names;
}

nb::object PyMiddleware::method(Hook hook) const { return nb::getattr(middleware_, hook_name(hook)); }

nb::object PyMiddleware::broker() const {
  nb::object broker = broker_ref_.is_valid() ? broker_ref_() : nb::none();
  return broker;
}

void PyMiddleware::call(Hook hook, Broker&, MessageProxy& message) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object view = proxy_view(message);
    sync_options_to_view(message);
    method(hook)(broker(), view);
    sync_options_from_view(message);
  } catch (const nb::python_error& e) {
    sync_options_from_view(message);
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, MessageProxy& message, const Value* result,
                        const Failure* failure) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object view = proxy_view(message);
    sync_options_to_view(message);
    nb::object py_result = result ? from_value(*result) : nb::none();
    nb::object exception = nb::none();
    if (failure) {
      auto* ref = dynamic_cast<const PyObjectRef*>(failure->host_exception.get());
      if (ref) {
        exception = ref->object();
      } else {
        exception = nb::steal(PyObject_CallFunction(PyExc_RuntimeError, "s",
                                                    (failure->type_name + ": " + failure->message).c_str()));
      }
    }
    std::optional<HandledException> handled;
    if (failure) handled.emplace(exception);
    method(hook)(broker(), view, nb::arg("result") = py_result,
                                        nb::arg("exception") = exception);
    sync_options_from_view(message);
  } catch (const nb::python_error& e) {
    sync_options_from_view(message);
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, Actor& actor) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_actor = nb::none();
    if (auto* ref = dynamic_cast<const PyObjectRef*>(actor.host_actor.get())) py_actor = ref->object();
    method(hook)(broker(), py_actor);
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, const std::string& queue_name) {
  nb::gil_scoped_acquire gil;
  try {
    method(hook)(broker(), nb::str(queue_name.c_str()));
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, Message& message, Delay delay) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_message = message_to_python(message);
    nb::object py_delay = delay ? nb::object(nb::int_(*delay)) : nb::object(nb::none());
    method(hook)(broker(), py_message, py_delay);
    // Middleware may add or change options before the message is stored.
    message.options = to_value(nb::getattr(py_message, "options"));
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&) {
  nb::gil_scoped_acquire gil;
  try {
    method(hook)(broker());
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, Worker& worker) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_worker = nb::none();
    if (auto* ref = dynamic_cast<const PyObjectRef*>(worker.host_worker.get())) py_worker = ref->object();
    method(hook)(broker(), py_worker);
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::call(Hook hook, Broker&, const ThreadInfo& info) {
  nb::gil_scoped_acquire gil;
  try {
    const Registry& r = registry();
    nb::object thread = info.kind == ThreadInfo::Kind::Consumer
                            ? r.consumer_thread_class(nb::str(info.queue_name.c_str()))
                            : r.worker_thread_class();
    method(hook)(broker(), thread);
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

}  // namespace dramatiq::python
