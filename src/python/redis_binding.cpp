// dramatiq._engine.RedisBroker: connection parameters in redis-py's names
// become the engine's RedisBrokerOptions.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <set>

#include "dramatiq/redis_broker.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

std::chrono::milliseconds seconds_to_ms(nb::handle seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(nb::cast<double>(seconds) * 1000));
}

// redis-py parameters that only tune redis-py's own client and have no
// meaning for the engine's connections.
const std::set<std::string>& client_only_parameters() {
  static const std::set<std::string> names{
      "decode_responses", "encoding", "encoding_errors", "retry_on_timeout", "retry_on_error",
      "retry", "health_check_interval", "max_connections", "socket_keepalive",
      "socket_keepalive_options", "single_connection_client", "connection_pool",
      "protocol", "lib_name", "lib_version", "auto_close_connection_pool", "errors",
      "charset", "ssl_min_version", "ssl_ciphers", "ssl_password", "ssl_validate_ocsp",
      "ssl_ca_path", "ssl_ca_data", "credential_provider", "redis_connect_func"};
  return names;
}

void apply_parameter(RedisConnectionOptions& options, const std::string& name, nb::handle value) {
  if (value.is_none()) {
    if (name == "socket_timeout") options.socket_timeout.reset();
    if (name == "socket_connect_timeout") options.connect_timeout.reset();
    return;
  }
  if (name == "host") {
    options.host = nb::cast<std::string>(value);
  } else if (name == "port") {
    options.port = nb::cast<int>(value);
  } else if (name == "db") {
    options.db = nb::cast<int>(value);
  } else if (name == "password") {
    options.password = nb::cast<std::string>(value);
  } else if (name == "username") {
    options.username = nb::cast<std::string>(value);
  } else if (name == "unix_socket_path" || name == "path") {
    options.unix_socket_path = nb::cast<std::string>(value);
  } else if (name == "client_name") {
    options.client_name = nb::cast<std::string>(value);
  } else if (name == "socket_timeout") {
    options.socket_timeout = seconds_to_ms(value);
  } else if (name == "socket_connect_timeout") {
    options.connect_timeout = seconds_to_ms(value);
  } else if (name == "ssl") {
    options.tls = nb::cast<bool>(value);
  } else if (name == "ssl_ca_certs") {
    options.tls_ca_file = nb::cast<std::string>(value);
  } else if (name == "ssl_certfile") {
    options.tls_cert_file = nb::cast<std::string>(value);
  } else if (name == "ssl_keyfile") {
    options.tls_key_file = nb::cast<std::string>(value);
  } else if (name == "ssl_check_hostname") {
    options.tls_check_hostname = nb::cast<bool>(value);
  } else if (name == "ssl_cert_reqs") {
    // "none"/"optional"/"required", or the ssl module's CERT_* integers.
    bool verify = nb::isinstance<nb::str>(value) ? nb::cast<std::string>(value) != "none"
                                                  : nb::cast<int>(value) != 0;
    options.tls_verify_peer = verify;
  } else if (!client_only_parameters().count(name)) {
    throw nb::type_error(("RedisBroker got an unexpected connection parameter '" + name + "'").c_str());
  }
}

}  // namespace

void bind_redis_broker(nb::module_& m) {
  nb::class_<RedisBroker, Broker>(m, "RedisBroker")
      .def("__init__", [](RedisBroker* self, std::optional<std::string> url, nb::dict parameters,
                          std::string key_namespace, std::int64_t heartbeat_timeout,
                          std::int64_t dead_message_ttl, int maintenance_chance) {
             RedisBrokerOptions options;
             if (url) {
               options.connection = RedisConnectionOptions::from_url(*url);
             } else {
               for (auto [key, value] : parameters) {
                 apply_parameter(options.connection, nb::cast<std::string>(key), value);
               }
             }
             options.key_namespace = std::move(key_namespace);
             options.heartbeat_timeout_ms = heartbeat_timeout;
             options.dead_message_ttl_ms = dead_message_ttl;
             options.maintenance_chance = maintenance_chance;
             new (self) RedisBroker(std::move(options));
           }, "url"_a.none(), "parameters"_a, "namespace"_a, "heartbeat_timeout"_a,
           "dead_message_ttl"_a, "maintenance_chance"_a)
      .def_prop_ro("broker_id", &RedisBroker::broker_id)
      .def("join", [](RedisBroker& b, const std::string& queue, std::optional<std::int64_t> timeout,
                      std::int64_t interval) {
             nb::gil_scoped_release release;
             std::optional<std::chrono::milliseconds> wait;
             if (timeout) wait = std::chrono::milliseconds(*timeout);
             return b.join(queue, wait, std::chrono::milliseconds(std::max<std::int64_t>(1, interval)));
           }, "queue_name"_a, "timeout"_a.none(), "interval"_a)
      .def("close", [](RedisBroker& b) {
             nb::gil_scoped_release release;
             b.close();
           });
}

}  // namespace dramatiq::python
