// dramatiq._engine.RabbitmqBroker: connection URLs and pika-named
// parameters become the engine's RabbitmqBrokerOptions; blocking calls
// release the GIL.
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "dramatiq/rabbitmq_broker.hpp"
#include "py_broker.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

// True/False as "1"/"0", integers as digits, anything else as Python
// prints it (the engine parses and validates the text).
std::string parameter_text(nb::handle value) {
  if (nb::isinstance<nb::bool_>(value)) return nb::cast<bool>(value) ? "1" : "0";
  if (nb::isinstance<nb::int_>(value)) return std::to_string(nb::cast<long long>(value));
  return nb::cast<std::string>(nb::str(value));
}

RabbitmqConnectionOptions server_of(nb::dict parameters) {
  RabbitmqConnectionOptions server;
  for (auto [key, value] : parameters) {
    std::string name = nb::cast<std::string>(key);
    if (value.is_none()) {
      if (name == "blocked_connection_timeout") server.blocked_connection_timeout.reset();
      continue;  // pika's "use the default"
    }
    try {
      server.set_option(name, parameter_text(value));
    } catch (const RabbitmqConnectionOptions::UnknownOption&) {
      throw nb::type_error(("RabbitmqBroker got an unexpected connection parameter '" + name + "'").c_str());
    }
  }
  return server;
}

}  // namespace

void bind_rabbitmq_broker(nb::module_& m) {
  m.attr("RABBITMQ_DEFAULT_DEAD_MESSAGE_TTL") = RabbitmqBrokerOptions::default_dead_message_ttl_ms();
  nb::class_<RabbitmqBroker, Broker>(m, "RabbitmqBroker")
      // Servers from `urls` when given, else one per parameter dict.
      .def("__init__", [](RabbitmqBroker* self, std::vector<std::string> urls, std::vector<nb::dict> parameters,
                          bool confirm_delivery, std::optional<int> max_priority) {
             RabbitmqBrokerOptions options;
             options.servers.clear();
             for (const auto& url : urls) options.servers.push_back(RabbitmqConnectionOptions::from_url(url));
             if (urls.empty()) {
               for (auto& dict : parameters) options.servers.push_back(server_of(dict));
             }
             options.confirm_delivery = confirm_delivery;
             options.max_priority = max_priority;
             new (self) RabbitmqBroker(std::move(options));
           }, "urls"_a, "parameters"_a, "confirm_delivery"_a, "max_priority"_a.none())
      .def_prop_rw("confirm_delivery", &RabbitmqBroker::confirm_delivery, &RabbitmqBroker::set_confirm_delivery)
      .def_prop_ro("max_priority", [](const RabbitmqBroker& b) { return b.options().max_priority; })
      .def_prop_ro("dead_message_ttl", [](const RabbitmqBroker& b) { return b.options().dead_message_ttl_ms; })
      .def("ensure_queue", &RabbitmqBroker::ensure_queue, nb::call_guard<nb::gil_scoped_release>())
      .def("get_queue_message_counts", [](RabbitmqBroker& b, const std::string& queue) {
             RabbitmqBroker::QueueCounts counts;
             {
               nb::gil_scoped_release release;
               counts = b.get_queue_message_counts(queue);
             }
             return std::make_tuple(counts.ready, counts.delayed, counts.dead);
           })
      .def("join_idle", [](RabbitmqBroker& b, const std::string& queue, int min_successes,
                           std::int64_t idle_time, std::optional<std::int64_t> timeout) {
             std::optional<std::chrono::milliseconds> limit;
             if (timeout) limit = std::chrono::milliseconds(*timeout);
             nb::gil_scoped_release release;
             // Python's signal handlers run between counts: Ctrl-C interrupts a join.
             auto idle = std::chrono::milliseconds(std::max<std::int64_t>(1, idle_time));
             return b.join_idle(queue, min_successes, idle, limit, [] {
               nb::gil_scoped_acquire acquire;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
             });
           }, "queue_name"_a, "min_successes"_a, "idle_time"_a, "timeout"_a.none())
      .def("declare_main_queue", &RabbitmqBroker::declare_main_queue, "queue_name"_a,
           nb::call_guard<nb::gil_scoped_release>())
      // `broker`: the Python broker whose `_declare_queue` the engine calls
      // in place of its own step (None: the engine's own again).
      .def("set_queue_declarer", [](RabbitmqBroker& b, nb::handle broker) {
             if (broker.is_none()) {
               nb::gil_scoped_release release;
               b.set_queue_declarer({});
               return;
             }
             ForeignPtr ref = wrap(nb::module_::import_("weakref").attr("ref")(broker));
             RabbitmqBroker::QueueDeclarer declarer = [ref](const std::string& canonical) {
               nb::gil_scoped_acquire gil;
               nb::object owner = static_cast<const PyObjectRef&>(*ref).object()();
               if (owner.is_none()) return;
               try {
                 owner.attr("_declare_queue")(canonical);
               } catch (const nb::python_error& e) {
                 if (is_connection_error(e.value())) {
                   throw ConnectionClosed("Declaring queue '" + canonical + "': " +
                                          nb::cast<std::string>(nb::repr(e.value())));
                 }
                 throw HostException(failure_from_python(e));
               }
             };
             nb::gil_scoped_release release;
             b.set_queue_declarer(std::move(declarer));
           }, "broker"_a.none())
      .def("close", &RabbitmqBroker::close, nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace dramatiq::python
