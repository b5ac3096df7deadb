// dramatiq._engine.PythonBroker, run_hook and NativeConsumer: brokers
// written in Python run by the engine, hooks emitted from Python reaching
// the engine's middleware, and engine consumers driven from Python.
#include <algorithm>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "dramatiq/middleware_hooks.hpp"
#include "py_broker.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

// An exception object as the engine's Failure (traceback included).
Failure failure_of_exception(nb::handle exception) {
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
  nb::python_error error;
  return failure_from_python(error);
}

nb::handle argument(const nb::tuple& args, const nb::dict& kwargs, std::size_t index, const char* name) {
  if (args.size() > index) return args[index];
  if (kwargs.contains(name)) return kwargs[name];
  throw nb::type_error((std::string("missing hook argument '") + name + "'").c_str());
}

// Calls `call` with the engine arguments of a hook of each shape, converted
// from the Python arguments upstream's hooks take (after the broker).
// Shapes the engine cannot build from Python (a worker, a thread) are not
// forwarded: their hooks are emitted by the engine itself.
template <typename Call>
void with_message(Broker&, const nb::tuple& args, const nb::dict& kwargs, Call&& call) {
  auto delivery = delivery_of(argument(args, kwargs, 0, "message"));
  sync_options_from_view(*delivery);
  {
    nb::gil_scoped_release release;
    call(*delivery);
  }
  sync_options_to_view(*delivery);
}

template <typename Call>
void with_processed(Broker&, const nb::tuple& args, const nb::dict& kwargs, Call&& call) {
  auto delivery = delivery_of(argument(args, kwargs, 0, "message"));
  sync_options_from_view(*delivery);
  nb::object result = kwargs.contains("result") ? nb::borrow(kwargs["result"]) : nb::none();
  nb::object exception = kwargs.contains("exception") ? nb::borrow(kwargs["exception"]) : nb::none();
  if (!exception.is_none()) {
    delivery->failure = failure_of_exception(exception);
  } else {
    delivery->result = to_value(result);
  }
  const Value* result_value = exception.is_none() ? &delivery->result : nullptr;
  const Failure* failure = exception.is_none() ? nullptr : &*delivery->failure;
  {
    nb::gil_scoped_release release;
    call(*delivery, result_value, failure);
  }
  sync_options_to_view(*delivery);
}

template <typename Call>
void with_queue(Broker&, const nb::tuple& args, const nb::dict& kwargs, Call&& call) {
  std::string queue_name = nb::cast<std::string>(argument(args, kwargs, 0, "queue_name"));
  nb::gil_scoped_release release;
  call(queue_name);
}

template <typename Call>
void with_enqueue(Broker&, const nb::tuple& args, const nb::dict& kwargs, Call&& call) {
  nb::handle py_message = argument(args, kwargs, 0, "message");
  nb::handle py_delay = args.size() > 1 ? args[1] : (kwargs.contains("delay") ? kwargs["delay"] : nb::none());
  Message message = message_from_python(py_message);
  Delay delay;
  if (!py_delay.is_none()) delay = nb::cast<std::int64_t>(py_delay);
  {
    nb::gil_scoped_release release;
    call(message, delay);
  }
  // What the middleware changed is what the Python broker stores.
  nb::object options = nb::getattr(py_message, "options");
  options.attr("clear")();
  options.attr("update")(from_value(message.options));
}

template <typename Call>
void with_actor(Broker& broker, const nb::tuple& args, const nb::dict& kwargs, Call&& call) {
  nb::handle py_actor = argument(args, kwargs, 0, "actor");
  auto actor = broker.find_actor(nb::cast<std::string>(nb::getattr(py_actor, "actor_name")));
  if (!actor) return;  // not declared on the engine (yet): nothing native knows of it
  nb::gil_scoped_release release;
  call(*actor);
}

template <typename Call>
void with_process(Broker&, const nb::tuple&, const nb::dict&, Call&& call) {
  nb::gil_scoped_release release;
  call();
}

template <typename Call>
void with_worker(Broker&, const nb::tuple&, const nb::dict&, Call&&) {}

template <typename Call>
void with_thread(Broker&, const nb::tuple&, const nb::dict&, Call&&) {}

#define DRAMATIQ_CALL_message(name) [&](MessageProxy& message) { middleware.name(broker, message); }
#define DRAMATIQ_CALL_processed(name) \
  [&](MessageProxy& message, const Value* result, const Failure* failure) { \
    middleware.name(broker, message, result, failure);                      \
  }
#define DRAMATIQ_CALL_queue(name) [&](const std::string& queue_name) { middleware.name(broker, queue_name); }
#define DRAMATIQ_CALL_enqueue(name) [&](Message& message, Delay delay) { middleware.name(broker, message, delay); }
#define DRAMATIQ_CALL_actor(name) [&](Actor& actor) { middleware.name(broker, actor); }
#define DRAMATIQ_CALL_process(name) [&]() { middleware.name(broker); }
#define DRAMATIQ_CALL_worker(name) [&](Worker& worker) { middleware.name(broker, worker); }
#define DRAMATIQ_CALL_thread(name) [&](const ThreadInfo& info) { middleware.name(broker, info); }

// Runs one hook of one engine middleware, as the Python broker emitted it.
void run_hook(Broker& broker, Middleware& middleware, const std::string& hook, const nb::tuple& args,
              const nb::dict& kwargs) {
  try {
#define DRAMATIQ_RUN_HOOK(name, shape, doc)                                    \
  if (hook == #name) return with_##shape(broker, args, kwargs, DRAMATIQ_CALL_##shape(name));
    DRAMATIQ_MIDDLEWARE_HOOKS(DRAMATIQ_RUN_HOOK)
#undef DRAMATIQ_RUN_HOOK
  } catch (const HostException& e) {
    // A Python exception (a callback's, a result backend's) surfaces as itself.
    if (auto* ref = dynamic_cast<const PyObjectRef*>(e.failure().host_exception.get())) {
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(ref->object().ptr())), ref->object().ptr());
      throw nb::python_error();
    }
    throw;
  }
  throw nb::value_error(("unknown hook: " + hook).c_str());
}

// An engine consumer driven from Python (upstream's broker.consume()).
struct NativeConsumer {
  std::unique_ptr<Consumer> consumer;
};

}  // namespace

void bind_python_brokers(nb::module_& m) {
  nb::class_<PyBroker, Broker>(m, "PythonBroker")
      .def(nb::init<nb::handle>(), "broker"_a)
      .def("announce_queue", &PyBroker::announce_queue, "queue_name"_a, nb::call_guard<nb::gil_scoped_release>());

  m.def("set_host_enqueue", [](Broker& native, nb::handle broker) {
          if (broker.is_none()) {
            native.set_host_enqueue({});
            return;
          }
          ForeignPtr ref = wrap(nb::module_::import_("weakref").attr("ref")(broker));
          native.set_host_enqueue([ref](Message message, Delay delay) {
            nb::gil_scoped_acquire gil;
            nb::object owner = static_cast<const PyObjectRef&>(*ref).object()();
            if (owner.is_none()) throw BrokerError("the Python broker was garbage-collected");
            return enqueue_in_python(owner, std::move(message), delay);
          });
        }, "native"_a, "broker"_a.none(),
        "Makes the engine's own enqueues (retries, callbacks, delayed messages) call `broker.enqueue`.");
  m.def("run_hook", &run_hook, "broker"_a, "middleware"_a, "hook"_a, "args"_a, "kwargs"_a,
        "Runs the hook `hook` of the engine middleware `middleware` with the Python arguments of upstream's hook.");

  nb::class_<NativeConsumer>(m, "NativeConsumer")
      .def("next", [](NativeConsumer& c, std::int64_t timeout) -> std::shared_ptr<MessageProxy> {
             // In slices, running Python's signal handlers between them.
             auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(0, timeout));
             while (true) {
               auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
               std::shared_ptr<MessageProxy> delivery;
               {
                 nb::gil_scoped_release release;
                 delivery = c.consumer->next(std::clamp(left, std::chrono::milliseconds(0), kSignalCheckInterval));
               }
               if (delivery) return delivery;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
               if (std::chrono::steady_clock::now() >= deadline) return nullptr;
             }
           }, "timeout"_a)
      .def("ack", [](NativeConsumer& c, std::shared_ptr<MessageProxy> delivery) {
             nb::gil_scoped_release release;
             c.consumer->ack(*delivery);
           }, "delivery"_a)
      .def("nack", [](NativeConsumer& c, std::shared_ptr<MessageProxy> delivery) {
             nb::gil_scoped_release release;
             c.consumer->nack(*delivery);
           }, "delivery"_a)
      .def("requeue", [](NativeConsumer& c, std::vector<std::shared_ptr<MessageProxy>> deliveries) {
             nb::gil_scoped_release release;
             c.consumer->requeue(deliveries);
           }, "deliveries"_a)
      .def("close", [](NativeConsumer& c) {
             nb::gil_scoped_release release;
             if (c.consumer) c.consumer->close();
           });
  m.def("open_consumer", [](Broker& broker, const std::string& queue_name, int prefetch) {
          NativeConsumer consumer;
          {
            nb::gil_scoped_release release;
            consumer.consumer = broker.consume(queue_name, std::max(1, prefetch));
          }
          return consumer;
        }, "broker"_a, "queue_name"_a, "prefetch"_a, nb::keep_alive<0, 1>(),
        "An engine consumer of one queue, for Python code that consumes it itself.");
}

}  // namespace dramatiq::python
