// Hooks of a built-in (C++) middleware called from Python: what
// `broker.emit_after("process_message", message, result=...)` or a Python
// subclass's `super().before_process_message(...)` does to one. Python
// objects are converted to the engine's for the call and the options the
// hook changed are copied back into the Python message.
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include "dramatiq/broker.hpp"
#include "dramatiq/middleware.hpp"
#include "dramatiq/worker.hpp"
#include "py_broker.hpp"
#include "py_common.hpp"
#include "py_middleware.hpp"

namespace dramatiq::python {

using namespace nb::literals;

namespace {

// A Failure for an exception object (as failure_from_python builds one for
// the exception being raised).
Failure failure_of(nb::handle exception) {
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
  nb::python_error error;
  return failure_from_python(error);
}

bool has_delivery(nb::handle message) {
  return nb::isinstance<MessageProxy>(nb::getattr(message, "_native", nb::none()));
}

// The engine delivery behind a Python message: the worker's own (a
// MessageProxy view of a delivery), one given now to a dramatiq.MessageProxy
// built by hand (an eager broker's) and kept as its `_native`, since what a
// hook leaves on it must outlive the call (CurrentMessage points at it until
// after_process_message; a nack hook reads the failure the
// process_message hook stored), or one for this call only, for a plain
// Message (or another object with a `_message`).
struct HookMessage {
  std::shared_ptr<MessageProxy> proxy;
  nb::object python_message;  // whose options dict receives the hook's changes
  bool is_delivery = false;
  nb::object python_proxy;  // a Python proxy without a delivery, or None
};

HookMessage hook_message(nb::handle message) {
  bool had_delivery = has_delivery(message);
  std::shared_ptr<MessageProxy> delivery = delivery_of(message);
  if (had_delivery) return {delivery, nb::borrow(message), true};
  if (has_delivery(message)) {
    // Given one just now: what the Python proxy knew carries over.
    nb::object exception = nb::getattr(message, "_exception", nb::none());
    if (!exception.is_none()) delivery->failure = failure_of(exception);
    return {delivery, nb::borrow(message), true};
  }
  nb::object plain = nb::getattr(message, "_message", nb::borrow(message));
  nb::object python_proxy = plain.is(message) ? nb::none() : nb::borrow(message);
  return {delivery, plain, false, python_proxy};
}

void before_call(HookMessage& m) {
  if (m.is_delivery) {
    // Python code may have changed the view's options before this call.
    sync_options_from_view(*m.proxy);
    return;
  }
  if (m.python_proxy.is_none()) return;
  // What the Python proxy knows: marked failed, an exception stuffed in.
  if (nb::cast<bool>(nb::getattr(m.python_proxy, "failed", nb::bool_(false)))) m.proxy->fail();
  nb::object exception = nb::getattr(m.python_proxy, "_exception", nb::none());
  if (!exception.is_none()) m.proxy->failure = failure_of(exception);
}

void after_call(HookMessage& m) {
  if (m.is_delivery) {
    sync_options_to_view(*m.proxy);
    return;
  }
  nb::object options = nb::getattr(m.python_message, "options");
  options.attr("clear")();
  options.attr("update")(from_value(m.proxy->message.options));
  if (m.proxy->failed && !m.python_proxy.is_none()) m.python_proxy.attr("fail")();
}

nb::handle argument(const nb::tuple& args, const nb::dict& kwargs, std::size_t index, const char* name) {
  if (index < args.size()) return args[index];
  if (kwargs.contains(name)) return kwargs[name];
  throw nb::type_error((std::string("missing argument: ") + name).c_str());
}

void call_native_hook(Middleware& middleware, const std::string& hook_name, Broker& broker, nb::tuple args,
                      nb::dict kwargs) {
  Hook hook = Hook::count;
  for (std::size_t i = 0; i < static_cast<std::size_t>(Hook::count); ++i) {
    if (hook_name == python::hook_name(static_cast<Hook>(i))) hook = static_cast<Hook>(i);
  }
  switch (hook) {
#define DRAMATIQ_NATIVE_MESSAGE_HOOK(name)                                      \
  case Hook::name: {                                                            \
    HookMessage m = hook_message(argument(args, kwargs, 0, "message"));         \
    before_call(m);                                                             \
    {                                                                           \
      nb::gil_scoped_release release;                                           \
      middleware.name(broker, *m.proxy);                                        \
    }                                                                           \
    after_call(m);                                                              \
    return;                                                                     \
  }
    DRAMATIQ_NATIVE_MESSAGE_HOOK(before_ack)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(after_ack)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(before_nack)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(after_nack)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(before_delay_message)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(before_process_message)
    DRAMATIQ_NATIVE_MESSAGE_HOOK(after_skip_message)
#undef DRAMATIQ_NATIVE_MESSAGE_HOOK
    case Hook::after_process_message: {
      HookMessage m = hook_message(argument(args, kwargs, 0, "message"));
      nb::object result = kwargs.contains("result") ? nb::borrow(kwargs["result"]) : nb::none();
      nb::object exception = kwargs.contains("exception") ? nb::borrow(kwargs["exception"]) : nb::none();
      std::optional<Failure> failure;
      Value value;
      before_call(m);
      if (!exception.is_none()) {
        failure = failure_of(exception);
        m.proxy->failure = failure;  // stuffed into the message, as upstream's worker does
      } else {
        value = to_value(result);
      }
      {
        nb::gil_scoped_release release;
        middleware.after_process_message(broker, *m.proxy, failure ? nullptr : &value,
                                         failure ? &*failure : nullptr);
      }
      after_call(m);
      return;
    }
    case Hook::before_enqueue:
    case Hook::after_enqueue: {
      nb::handle py_message = argument(args, kwargs, 0, "message");
      nb::handle py_delay = argument(args, kwargs, 1, "delay");
      Message message = message_from_python(py_message);
      Delay delay = py_delay.is_none() ? Delay() : Delay(nb::cast<std::int64_t>(py_delay));
      {
        nb::gil_scoped_release release;
        if (hook == Hook::before_enqueue) {
          middleware.before_enqueue(broker, message, delay);
        } else {
          middleware.after_enqueue(broker, message, delay);
        }
      }
      nb::object options = nb::getattr(py_message, "options");
      options.attr("clear")();
      options.attr("update")(from_value(message.options));
      return;
    }
    case Hook::before_declare_actor:
    case Hook::after_declare_actor: {
      std::string name = nb::cast<std::string>(nb::getattr(argument(args, kwargs, 0, "actor"), "actor_name"));
      nb::gil_scoped_release release;
      std::shared_ptr<Actor> actor = broker.find_actor(name);
      if (!actor) return;  // not declared on this broker: nothing for the engine to see
      if (hook == Hook::before_declare_actor) {
        middleware.before_declare_actor(broker, *actor);
      } else {
        middleware.after_declare_actor(broker, *actor);
      }
      return;
    }
    case Hook::before_declare_queue:
    case Hook::after_declare_queue:
    case Hook::after_declare_delay_queue: {
      std::string queue = nb::cast<std::string>(argument(args, kwargs, 0, "queue_name"));
      nb::gil_scoped_release release;
      if (hook == Hook::before_declare_queue) middleware.before_declare_queue(broker, queue);
      if (hook == Hook::after_declare_queue) middleware.after_declare_queue(broker, queue);
      if (hook == Hook::after_declare_delay_queue) middleware.after_declare_delay_queue(broker, queue);
      return;
    }
    case Hook::after_process_boot:
    case Hook::before_process_stop:
    case Hook::after_process_stop: {
      nb::gil_scoped_release release;
      if (hook == Hook::after_process_boot) middleware.after_process_boot(broker);
      if (hook == Hook::before_process_stop) middleware.before_process_stop(broker);
      if (hook == Hook::after_process_stop) middleware.after_process_stop(broker);
      return;
    }
    case Hook::before_worker_boot:
    case Hook::after_worker_boot:
    case Hook::before_worker_shutdown:
    case Hook::after_worker_shutdown: {
      nb::object native = nb::getattr(argument(args, kwargs, 0, "worker"), "_native", nb::none());
      if (!nb::isinstance<Worker>(native)) return;  // not an engine worker: nothing to act on
      Worker& worker = nb::cast<Worker&>(native);
      nb::gil_scoped_release release;
      if (hook == Hook::before_worker_boot) middleware.before_worker_boot(broker, worker);
      if (hook == Hook::after_worker_boot) middleware.after_worker_boot(broker, worker);
      if (hook == Hook::before_worker_shutdown) middleware.before_worker_shutdown(broker, worker);
      if (hook == Hook::after_worker_shutdown) middleware.after_worker_shutdown(broker, worker);
      return;
    }
    case Hook::after_consumer_thread_boot:
    case Hook::before_consumer_thread_shutdown:
    case Hook::after_worker_thread_boot:
    case Hook::before_worker_thread_shutdown: {
      nb::object queue = nb::getattr(argument(args, kwargs, 0, "thread"), "queue_name", nb::none());
      ThreadInfo info{queue.is_none() ? ThreadInfo::Kind::Worker : ThreadInfo::Kind::Consumer,
                      queue.is_none() ? std::string() : nb::cast<std::string>(queue)};
      nb::gil_scoped_release release;
      if (hook == Hook::after_consumer_thread_boot) middleware.after_consumer_thread_boot(broker, info);
      if (hook == Hook::before_consumer_thread_shutdown) middleware.before_consumer_thread_shutdown(broker, info);
      if (hook == Hook::after_worker_thread_boot) middleware.after_worker_thread_boot(broker, info);
      if (hook == Hook::before_worker_thread_shutdown) middleware.before_worker_thread_shutdown(broker, info);
      return;
    }
    case Hook::count:
      throw nb::value_error(("unknown middleware hook: " + hook_name).c_str());
  }
}

}  // namespace

void bind_native_hooks(nb::module_& m) {
  m.def("call_native_hook", &call_native_hook, "middleware"_a, "hook"_a, "broker"_a, "args"_a, "kwargs"_a,
        "Calls hook `hook` of a built-in middleware with Python arguments (emit_before/emit_after from "
        "Python, or super() from a Python subclass).");
}

}  // namespace dramatiq::python
