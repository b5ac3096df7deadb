// dramatiq._engine.SQLiteBroker: the embedded broker's settings and its
// dead-letter and counting tools, converted for Python.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "dramatiq/sqlite_broker.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

void bind_sqlite_broker(nb::module_& m) {
  {
    const SQLiteBrokerOptions defaults;
    m.attr("SQLITE_DEFAULT_HEARTBEAT_TIMEOUT") = defaults.heartbeat_timeout_ms;
    m.attr("SQLITE_DEFAULT_DEAD_MESSAGE_TTL") = defaults.dead_message_ttl_ms;
    m.attr("SQLITE_DEFAULT_BUSY_TIMEOUT") = defaults.busy_timeout_ms;
  }
  m.def("sqlite_default_path", &SQLiteBrokerOptions::default_path);
  // (path, durable) from an sqlite:// URL; ValueError naming what is wrong.
  m.def("sqlite_url_options", [](const std::string& url) {
    try {
      auto options = SQLiteBrokerOptions::from_url(url);
      return nb::make_tuple(options.path, options.durable, options.heartbeat_timeout_ms,
                            options.dead_message_ttl_ms, options.busy_timeout_ms);
    } catch (const std::invalid_argument& e) {
      throw nb::value_error(e.what());
    }
  });
  nb::class_<SQLiteBroker, Broker>(m, "SQLiteBroker")
      // Unset (None) settings keep SQLiteBrokerOptions' defaults.
      .def("__init__", [](SQLiteBroker* self, std::string path, bool durable,
                          std::optional<std::int64_t> heartbeat_timeout,
                          std::optional<std::int64_t> dead_message_ttl,
                          std::optional<std::int64_t> busy_timeout) {
             SQLiteBrokerOptions options;
             options.path = std::move(path);
             options.durable = durable;
             if (heartbeat_timeout) options.heartbeat_timeout_ms = *heartbeat_timeout;
             if (dead_message_ttl) options.dead_message_ttl_ms = *dead_message_ttl;
             if (busy_timeout) options.busy_timeout_ms = *busy_timeout;
             nb::gil_scoped_release release;
             new (self) SQLiteBroker(std::move(options));
           }, "path"_a, "durable"_a, "heartbeat_timeout"_a.none(), "dead_message_ttl"_a.none(),
           "busy_timeout"_a.none())
      .def_prop_ro("path", [](const SQLiteBroker& b) { return b.options().path; })
      .def_prop_ro("durable", [](const SQLiteBroker& b) { return b.options().durable; })
      .def_prop_ro("heartbeat_timeout", [](const SQLiteBroker& b) { return b.options().heartbeat_timeout_ms; })
      .def_prop_ro("dead_message_ttl", [](const SQLiteBroker& b) { return b.options().dead_message_ttl_ms; })
      .def("reclaim_dead_workers", &SQLiteBroker::reclaim_dead_workers,
           nb::call_guard<nb::gil_scoped_release>())
      .def("close", &SQLiteBroker::close, nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace dramatiq::python
