// dramatiq._engine.PythonBroker and NativeConsumer: brokers written in
// Python run by the engine, and engine consumers driven from Python. (Hooks
// emitted from Python reach a built-in middleware through its hook methods:
// native_hooks.cpp.)
#include <algorithm>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "py_broker.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

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
