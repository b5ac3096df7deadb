#include "dramatiq/sqlite_backend_options.hpp"

#include "dramatiq/sqlite_broker.hpp"

namespace dramatiq {

SQLiteBackendOptions SQLiteBackendOptions::from_url(const std::string& url) {
  SQLiteBrokerOptions broker = SQLiteBrokerOptions::from_url(url);
  SQLiteBackendOptions options;
  options.path = broker.path;
  options.durable = broker.durable;
  options.busy_timeout_ms = broker.busy_timeout_ms;
  return options;
}

std::string SQLiteBackendOptions::resolved_path() const {
  return path.empty() ? SQLiteBrokerOptions::default_path() : path;
}

}  // namespace dramatiq
