// dramatiq._engine.RedisBroker: connection parameters in redis-py's names
// become the engine's RedisBrokerOptions.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <set>

#include "dramatiq/redis_broker.hpp"
#include "py_broker.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

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

nb::builtin_exception unexpected_parameter(const char* owner, const std::string& name) {
  return nb::type_error((std::string(owner) + " got an unexpected connection parameter '" + name + "'").c_str());
}

void apply_parameter(RedisConnectionOptions& options, const std::string& name, nb::handle value,
                     const char* owner) {
  if (client_only_parameters().count(name)) return;
  if (value.is_none()) {
    if (name == "socket_timeout") options.socket_timeout.reset();
    if (name == "socket_connect_timeout") options.connect_timeout.reset();
    return;
  }
  // True/False as "1"/"0", integers (enums too) as digits, anything else
  // as Python prints it.
  std::string text;
  if (nb::isinstance<nb::bool_>(value)) {
    text = nb::cast<bool>(value) ? "1" : "0";
  } else if (nb::isinstance<nb::int_>(value)) {
    text = std::to_string(nb::cast<long long>(value));
  } else {
    text = nb::cast<std::string>(nb::str(value));
  }
  try {
    options.set_option(name, text);
  } catch (const RedisConnectionOptions::UnknownOption&) {
    throw unexpected_parameter(owner, name);
  }
}

// Whether redis-py takes `name` (for the connection or for its own client).
bool known_parameter(const std::string& name) {
  if (client_only_parameters().count(name)) return true;
  RedisConnectionOptions scratch;
  try {
    scratch.set_option(name, "");
  } catch (const RedisConnectionOptions::UnknownOption&) {
    return false;
  } catch (const std::exception&) {
    // A known name; the empty value is what it refused.
  }
  return true;
}

}  // namespace

RedisConnectionOptions redis_connection_options(const std::optional<std::string>& url, nb::dict parameters,
                                                const char* owner) {
  if (url) {
    // The URL wins over parameters, as in upstream, but a name redis-py
    // would refuse is refused here too rather than silently ignored.
    for (auto [key, value] : parameters) {
      std::string name = nb::cast<std::string>(key);
      if (!known_parameter(name)) throw unexpected_parameter(owner, name);
    }
    return RedisConnectionOptions::from_url(*url);
  }
  RedisConnectionOptions options;
  for (auto [key, value] : parameters) apply_parameter(options, nb::cast<std::string>(key), value, owner);
  return options;
}

void bind_redis_broker(nb::module_& m) {
  {
    const RedisBrokerOptions defaults;
    m.attr("REDIS_DEFAULT_HEARTBEAT_TIMEOUT") = defaults.heartbeat_timeout_ms;
    m.attr("REDIS_DEFAULT_DEAD_MESSAGE_TTL") = defaults.dead_message_ttl_ms;
    m.attr("REDIS_DEFAULT_MAINTENANCE_CHANCE") = defaults.maintenance_chance;
    m.attr("REDIS_MAINTENANCE_SCALE") = kRedisMaintenanceScale;
  }
  nb::class_<RedisBroker, Broker>(m, "RedisBroker")
      // Unset (None) settings keep RedisBrokerOptions' defaults.
      .def("__init__", [](RedisBroker* self, std::optional<std::string> url, nb::dict parameters,
                          std::string key_namespace, std::optional<std::int64_t> heartbeat_timeout,
                          std::optional<std::int64_t> dead_message_ttl, std::optional<int> maintenance_chance) {
             RedisBrokerOptions options;
             options.connection = redis_connection_options(url, parameters, "RedisBroker");
             options.key_namespace = std::move(key_namespace);
             if (heartbeat_timeout) options.heartbeat_timeout_ms = *heartbeat_timeout;
             if (dead_message_ttl) options.dead_message_ttl_ms = *dead_message_ttl;
             if (maintenance_chance) options.maintenance_chance = *maintenance_chance;
             new (self) RedisBroker(std::move(options));
           }, "url"_a.none(), "parameters"_a, "namespace"_a, "heartbeat_timeout"_a.none(),
           "dead_message_ttl"_a.none(), "maintenance_chance"_a.none())
      .def_prop_rw("heartbeat_timeout", &RedisBroker::heartbeat_timeout_ms, &RedisBroker::set_heartbeat_timeout_ms)
      .def_prop_rw("dead_message_ttl", &RedisBroker::dead_message_ttl_ms, &RedisBroker::set_dead_message_ttl_ms)
      .def_prop_rw("maintenance_chance", &RedisBroker::maintenance_chance, &RedisBroker::set_maintenance_chance)
      .def("queue_size", &RedisBroker::queue_size, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_rw("broker_id", &RedisBroker::broker_id, &RedisBroker::set_broker_id)
      .def("enqueue_encoded", [](RedisBroker& b, const std::string& queue, const std::string& id, nb::bytes data) {
             std::string bytes(data.c_str(), data.size());
             without_gil_interruptibly([&] { b.enqueue_encoded(queue, id, bytes); });
           }, "queue_name"_a, "redis_message_id"_a, "data"_a)
      .def("fetch_encoded", [](RedisBroker& b, const std::string& queue, int count) {
             std::vector<std::string> data = without_gil_interruptibly([&] { return b.fetch_encoded(queue, count); });
             nb::list out;
             for (const auto& item : data) out.append(nb::bytes(item.data(), item.size()));
             return out;
           }, "queue_name"_a, "count"_a)
      .def("settle_encoded", [](RedisBroker& b, const std::string& queue, const std::string& id, bool ack) {
             without_gil_interruptibly([&] { b.settle_encoded(queue, id, ack); });
           }, "queue_name"_a, "redis_message_id"_a, "ack"_a)
      .def("set_host_settlement", [](RedisBroker& b, nb::handle ack, nb::handle nack) {
             auto host = [](nb::handle settle, const char* doing) -> RedisBroker::HostSettle {
               if (settle.is_none()) return {};
               ForeignPtr ref = wrap(settle);
               return [ref, doing](const std::string& queue, const std::string& id) {
                 nb::gil_scoped_acquire gil;
                 try {
                   static_cast<const PyObjectRef&>(*ref).object()(queue, id);
                 } catch (const nb::python_error& e) {
                   rethrow_broker_error(e, std::string(doing) + " message " + id + " of queue '" + queue + "'");
                 }
               };
             };
             b.set_host_settlement(host(ack, "Acking"), host(nack, "Nacking"));
           }, "ack"_a.none(), "nack"_a.none(),
           "Makes the worker's acks and nacks call `ack(queue_name, redis_message_id)` and "
           "`nack(...)` (None: the engine's batched settlements).")
      .def("ping", [](RedisBroker& b) { without_gil_interruptibly([&] { b.ping(); }); })
      .def("close", [](RedisBroker& b) {
             nb::gil_scoped_release release;
             b.close();
           });
}

}  // namespace dramatiq::python
