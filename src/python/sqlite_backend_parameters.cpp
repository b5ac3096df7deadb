// The file settings of the SQLite results and rate-limit backends, from
// their Python arguments; shared by both bindings.
#include <stdexcept>

#include "dramatiq/sqlite_backend_options.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

SQLiteBackendOptions sqlite_backend_options(const std::optional<std::string>& path,
                                            const std::optional<std::string>& url, std::optional<bool> durable,
                                            std::optional<std::int64_t> busy_timeout, const char* owner) {
  SQLiteBackendOptions options;
  if (url) {
    if (path) throw nb::type_error((std::string(owner) + " takes a path or a url, not both").c_str());
    try {
      options = SQLiteBackendOptions::from_url(*url);
    } catch (const std::invalid_argument& e) {
      throw nb::value_error(e.what());
    }
  } else if (path) {
    options.path = *path;
  }
  if (durable) options.durable = *durable;
  if (busy_timeout) options.busy_timeout_ms = *busy_timeout;
  return options;
}

}  // namespace dramatiq::python
