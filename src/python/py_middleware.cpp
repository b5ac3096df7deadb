#include "py_middleware.hpp"

#include "dramatiq/worker.hpp"

namespace dramatiq::python {

namespace {
constexpr const char* kHookNames[] = {
    "before_ack", "after_ack", "before_nack", "after_nack", "before_declare_actor",
    "after_declare_actor", "before_declare_queue", "after_declare_queue",
    "after_declare_delay_queue", "before_enqueue", "after_enqueue", "before_delay_message",
    "before_process_message", "after_process_message", "after_skip_message",
    "after_process_boot", "before_process_stop", "after_process_stop", "before_worker_boot",
    "after_worker_boot", "before_worker_shutdown", "after_worker_shutdown",
    "after_consumer_thread_boot", "before_consumer_thread_shutdown", "after_worker_thread_boot",
    "before_worker_thread_shutdown"};
static_assert(sizeof(kHookNames) / sizeof(kHookNames[0]) == static_cast<std::size_t>(Hook::count));
}  // namespace

const char* hook_name(Hook hook) { return kHookNames[static_cast<std::size_t>(hook)]; }

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

void PyMiddleware::proxy_hook(Hook hook, MessageProxy& message) {
  if (!has(hook)) return;
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

void PyMiddleware::after_process_message(Broker&, MessageProxy& message, const Value* result,
                                         const Failure* failure) {
  if (!has(Hook::after_process_message)) return;
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
    method(Hook::after_process_message)(broker(), view, nb::arg("result") = py_result,
                                        nb::arg("exception") = exception);
    sync_options_from_view(message);
  } catch (const nb::python_error& e) {
    sync_options_from_view(message);
    rethrow_hook_error(e);
  }
}

void PyMiddleware::actor_hook(Hook hook, Actor& actor) {
  if (!has(hook)) return;
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_actor = nb::none();
    if (auto* ref = dynamic_cast<const PyObjectRef*>(actor.host_actor.get())) py_actor = ref->object();
    method(hook)(broker(), py_actor);
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::queue_hook(Hook hook, const std::string& queue_name) {
  if (!has(hook)) return;
  nb::gil_scoped_acquire gil;
  try {
    method(hook)(broker(), nb::str(queue_name.c_str()));
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::enqueue_hook(Hook hook, Message& message, Delay delay) {
  if (!has(hook)) return;
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

void PyMiddleware::plain_hook(Hook hook) {
  if (!has(hook)) return;
  nb::gil_scoped_acquire gil;
  try {
    method(hook)(broker());
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::worker_hook(Hook hook, Worker& worker) {
  if (!has(hook)) return;
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_worker = nb::none();
    if (auto* ref = dynamic_cast<const PyObjectRef*>(worker.host_worker.get())) py_worker = ref->object();
    method(hook)(broker(), py_worker);
  } catch (const nb::python_error& e) {
    rethrow_hook_error(e);
  }
}

void PyMiddleware::thread_hook(Hook hook, const ThreadInfo& info) {
  if (!has(hook)) return;
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
