// dramatiq._engine.Prometheus and the exposition helper: the Prometheus
// middleware's counting is all engine; Python only serves the text.
#include <nanobind/stl/string.h>

#include "dramatiq/metrics_file.hpp"
#include "dramatiq/prometheus.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

void bind_prometheus(nb::module_& m) {
  nb::class_<Prometheus, Middleware>(m, "Prometheus")
      .def(nb::init<std::string>(), "db_path"_a)
      .def_prop_ro("db_path", &Prometheus::db_path)
      .def_prop_ro("file_path", &Prometheus::file_path);
  m.def("render_prometheus_metrics", [](const std::string& db_path) {
    std::string text;
    {
      nb::gil_scoped_release release;
      text = metrics::render_prometheus(metrics::read_directory(db_path));
    }
    return nb::bytes(text.data(), text.size());
  }, "db_path"_a, "The metrics of every process that counted into db_path, in Prometheus text format.");
}

}  // namespace dramatiq::python
