// dramatiq._engine's result backends and Results middleware: Python
// arguments become the engine's; waits release the GIL.
#include <algorithm>

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "dramatiq/json.hpp"
#include "dramatiq/memcached_result_backend.hpp"
#include "dramatiq/redis_result_backend.hpp"
#include "dramatiq/results.hpp"
#include "dramatiq/sqlite_result_backend.hpp"
#include "dramatiq/stub_result_backend.hpp"
#include "py_common.hpp"
#include "py_encoder.hpp"
#include "py_result_backend.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

// Only what a result key is made of: getting a result needs no arguments.
Message key_fields(nb::handle message) {
  Message m;
  m.queue_name = nb::cast<std::string>(nb::getattr(message, "queue_name"));
  m.actor_name = nb::cast<std::string>(nb::getattr(message, "actor_name"));
  m.message_id = nb::cast<std::string>(nb::getattr(message, "message_id"));
  return m;
}

// The engine encoder for a Python encoder argument: the process-wide one
// for None (as upstream: whatever get_encoder() returns now), the native
// JSON encoder for a plain JSONEncoder, an adapter otherwise.
std::shared_ptr<Encoder> engine_encoder(nb::handle encoder, nb::handle json_encoder_class) {
  if (encoder.is_none()) return get_encoder();
  if (encoder.type().is(json_encoder_class)) return std::make_shared<JsonEncoder>();
  return std::make_shared<PyEncoder>(nb::borrow(encoder));
}

ResultBackendOptions backend_options(const std::string& key_namespace, bool prefix_keys, nb::handle encoder,
                                     nb::handle json_encoder_class) {
  ResultBackendOptions options;
  options.key_namespace = key_namespace;
  options.use_namespace_prefix_keys = prefix_keys;
  options.encoder = engine_encoder(encoder, json_encoder_class);
  return options;
}

std::optional<std::chrono::milliseconds> optional_ms(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

}  // namespace

void bind_results(nb::module_& m) {
  nb::class_<ResultBackend>(m, "ResultBackend")
      .def_prop_ro_static("DEFAULT_TIMEOUT", [](nb::handle) {
             return static_cast<std::int64_t>(ResultBackend::kDefaultTimeout.count());
           })
      .def("build_message_key", [](const ResultBackend& b, nb::handle message) {
             return b.build_message_key(key_fields(message));
           })
      // The base scheme, even when a Python subclass overrides
      // build_message_key (its super() call lands here).
      .def("default_message_key", [](const ResultBackend& b, nb::handle message) {
             return b.ResultBackend::build_message_key(key_fields(message));
           })
      .def("store_result", [](ResultBackend& b, nb::handle message, nb::handle result, std::int64_t ttl) {
             Message key = key_fields(message);
             Value value = to_value(result);
             nb::gil_scoped_release release;
             b.store_result(key, value, ttl);
           }, "message"_a, "result"_a.none(), "ttl"_a)
      .def("store_exception", [](ResultBackend& b, nb::handle message, nb::handle exception, std::int64_t ttl) {
             Message key = key_fields(message);
             Failure failure;
             failure.type_name = nb::cast<std::string>(nb::getattr(exception.type(), "__name__"));
             failure.message = nb::cast<std::string>(nb::str(exception));
             nb::gil_scoped_release release;
             b.store_exception(key, failure, ttl);
           })
      .def("get_stored", [](ResultBackend& b, nb::handle message, bool block, std::optional<std::int64_t> timeout) {
             Message key = key_fields(message);
             Value stored;
             if (!block) {
               {
                 nb::gil_scoped_release release;
                 stored = b.get_stored(key, false, std::nullopt);
               }
               return from_value(stored);
             }
             // Waits in slices without the GIL and runs Python's signal
             // handlers between them, so Ctrl-C interrupts the wait at once.
             using Clock = std::chrono::steady_clock;
             constexpr auto kSlice = kSignalCheckInterval;
             auto deadline = Clock::now() + optional_ms(timeout).value_or(ResultBackend::kDefaultTimeout);
             while (true) {
               auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
               try {
                 nb::gil_scoped_release release;
                 stored = b.get_stored(key, true, std::clamp(left, std::chrono::milliseconds(0), kSlice));
                 break;
               } catch (const ResultTimeout&) {
                 if (PyErr_CheckSignals() != 0) throw nb::python_error();
                 if (Clock::now() >= deadline) throw;
               }
             }
             return from_value(stored);
           }, "message"_a, "block"_a, "timeout"_a.none())
      .def("put", [](ResultBackend& b, const std::string& key, nb::handle stored, std::int64_t ttl) {
             Value value = to_value(stored);
             nb::gil_scoped_release release;
             b.put(key, value, ttl);
           }, "key"_a, "stored"_a.none(), "ttl"_a)
      .def("get", [](ResultBackend& b, const std::string& key, nb::handle missing) -> nb::object {
             std::optional<Value> stored;
             {
               nb::gil_scoped_release release;
               stored = b.get(key);
             }
             return stored ? from_value(*stored) : nb::borrow(missing);
           });

  nb::class_<StubResultBackend, ResultBackend>(m, "StubResultBackend")
      .def("__init__", [](StubResultBackend* self, const std::string& ns, bool prefix_keys, nb::handle encoder,
                          nb::handle json_encoder_class) {
             new (self) StubResultBackend(backend_options(ns, prefix_keys, encoder, json_encoder_class));
           }, "namespace"_a, "use_namespace_prefix_keys"_a, "encoder"_a.none(), "json_encoder_class"_a)
      .def("clear", &StubResultBackend::clear);

  nb::class_<RedisResultBackend, ResultBackend>(m, "RedisResultBackend")
      .def("__init__", [](RedisResultBackend* self, std::optional<std::string> url, nb::dict parameters,
                          const std::string& ns, bool prefix_keys, nb::handle encoder, nb::handle json_encoder_class) {
             new (self) RedisResultBackend(redis_connection_options(url, parameters, "RedisBackend"),
                                           backend_options(ns, prefix_keys, encoder, json_encoder_class));
           }, "url"_a.none(), "parameters"_a, "namespace"_a, "use_namespace_prefix_keys"_a, "encoder"_a.none(),
           "json_encoder_class"_a);

  nb::class_<MemcachedResultBackend, ResultBackend>(m, "MemcachedResultBackend")
      .def("__init__", [](MemcachedResultBackend* self, std::vector<std::string> servers, bool binary,
                          std::size_t pool_size, std::map<std::string, long long> behaviors,
                          std::optional<std::string> username, std::optional<std::string> password,
                          const std::string& ns, bool prefix_keys, nb::handle encoder, nb::handle json_encoder_class) {
             new (self) MemcachedResultBackend(
                 memcached_options(std::move(servers), binary, pool_size, std::move(behaviors), std::move(username),
                                   std::move(password)),
                 backend_options(ns, prefix_keys, encoder, json_encoder_class));
           }, "servers"_a, "binary"_a, "pool_size"_a, "behaviors"_a, "username"_a.none(), "password"_a.none(),
           "namespace"_a, "use_namespace_prefix_keys"_a, "encoder"_a.none(), "json_encoder_class"_a)
      .def_prop_ro("servers", [](const MemcachedResultBackend& b) { return b.connection().servers; });

  nb::class_<SQLiteResultBackend, ResultBackend>(m, "SQLiteResultBackend")
      .def("__init__", [](SQLiteResultBackend* self, std::optional<std::string> path, std::optional<std::string> url,
                          std::optional<bool> durable, std::optional<std::int64_t> busy_timeout, const std::string& ns,
                          bool prefix_keys, nb::handle encoder, nb::handle json_encoder_class) {
             SQLiteBackendOptions file = sqlite_backend_options(path, url, durable, busy_timeout, "SQLiteBackend");
             ResultBackendOptions options = backend_options(ns, prefix_keys, encoder, json_encoder_class);
             nb::gil_scoped_release release;
             new (self) SQLiteResultBackend(std::move(file), std::move(options));
           }, "path"_a.none(), "url"_a.none(), "durable"_a.none(), "busy_timeout"_a.none(), "namespace"_a,
           "use_namespace_prefix_keys"_a, "encoder"_a.none(), "json_encoder_class"_a)
      .def_prop_ro("path", [](const SQLiteResultBackend& b) { return b.file().path; })
      .def_prop_ro("durable", [](const SQLiteResultBackend& b) { return b.file().durable; });

  nb::class_<PyResultBackend, ResultBackend>(m, "PythonResultBackend")
      .def("__init__", [](PyResultBackend* self, nb::object backend, nb::object missing, bool custom_keys,
                          const std::string& ns, bool prefix_keys) {
             ResultBackendOptions options;
             options.key_namespace = ns;
             options.use_namespace_prefix_keys = prefix_keys;
             new (self) PyResultBackend(std::move(backend), std::move(missing), custom_keys, std::move(options));
           }, "backend"_a, "missing"_a, "custom_keys"_a, "namespace"_a, "use_namespace_prefix_keys"_a);

  nb::class_<Results, Middleware>(m, "Results")
      .def(nb::init<std::shared_ptr<ResultBackend>, bool, std::int64_t>(), "backend"_a, "store_results"_a,
           "result_ttl"_a)
      .def_rw("store_results", &Results::store_results)
      .def_ro_static("DEFAULT_RESULT_TTL", &Results::kDefaultResultTtl)
      .def_rw("result_ttl", &Results::result_ttl);

  m.def("wrap_exception", [](const std::string& type_name, const std::string& message) {
    return from_value(wrap_exception(type_name, message));
  });
  m.def("unwrap_result", [](nb::handle stored) -> nb::object {
    // Only a dict can be a stored failure; anything else comes back as is
    // without being converted.
    if (!PyDict_Check(stored.ptr())) return nb::borrow(stored);
    unwrap_result(to_value(stored));
    return nb::borrow(stored);
  }, "stored"_a.none());
}

}  // namespace dramatiq::python
