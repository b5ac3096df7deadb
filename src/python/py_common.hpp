// Shared pieces of the Python bindings: Value <-> Python conversion, the
// ForeignObject that wraps a Python object, and the registry of Python
// classes the engine needs to know (exceptions, Message, MessageProxy).
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/failure.hpp"
#include "dramatiq/memcached_options.hpp"
#include "dramatiq/message_proxy.hpp"
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/value.hpp"

namespace dramatiq::python {

namespace nb = nanobind;

// A Python object carried through the engine. Its reference is dropped with
// the GIL held, whichever thread lets go of it last.
class PyObjectRef : public ForeignObject {
 public:
  explicit PyObjectRef(nb::object object) : object_(std::move(object)) {}
  ~PyObjectRef() override;
  std::string type_name() const override;
  bool is_instance_of(const ForeignObject& classes) const override;
  Value call(const Array& args) const override;
  const nb::object& object() const { return object_; }

 private:
  nb::object object_;
};

ForeignPtr wrap(nb::handle object);

// Python -> Value. Objects JSON cannot hold become Foreign references.
// Dict keys follow json.dumps: str kept; int/float/bool/None stringified;
// any other key type raises TypeError.
Value to_value(nb::handle object);
// Value -> Python. `args_as_tuple`: top-level Array becomes a tuple.
nb::object from_value(const Value& value);
nb::object args_to_python(const Value& args);

// Python classes registered by the dramatiq package at import time.
struct Registry {
  nb::object message_factory;  // (queue, actor, args, kwargs, options, id, ts) -> Message
  nb::object proxy_class;      // dramatiq.broker.MessageProxy
  nb::object retry;            // dramatiq.Retry
  nb::object rate_limit_exceeded;
  nb::object middleware_error;
  nb::object skip_message;
  nb::object time_limit_exceeded;
  nb::object shutdown;
  nb::object worker_thread_class;    // dramatiq.WorkerThread
  nb::object consumer_thread_class;  // dramatiq.ConsumerThread
  nb::object format_exception;  // traceback.format_exception
  nb::object get_logger;        // logging.getLogger
};
Registry& registry();

// The Python Message for a C++ message (fields converted).
nb::object message_to_python(const Message& message);
Message message_from_python(nb::handle message);

// The Python MessageProxy for a delivery, built once and cached on it.
nb::object proxy_view(const std::shared_ptr<MessageProxy>& proxy);
nb::object proxy_view(MessageProxy& proxy);
// Copies the view's options dict back into the C++ message (after Python
// code may have changed it) / refreshes the dict from the C++ message.
void sync_options_from_view(MessageProxy& proxy);
void sync_options_to_view(MessageProxy& proxy);

// Converts the Python exception being handled into a Failure.
Failure failure_from_python(const nb::python_error& error);
// Rethrows a Python exception raised by a middleware hook as the engine's
// MiddlewareError / SkipMessage when it is one, else as HostException.
[[noreturn]] void rethrow_hook_error(const nb::python_error& error);

// Redis connection options from a URL (which wins) or from keyword
// parameters named as redis-py names them; `owner` names the class in
// errors (redis_binding.cpp).
RedisConnectionOptions redis_connection_options(const std::optional<std::string>& url, nb::dict parameters,
                                                const char* owner);

// Memcached options from the settings python/dramatiq/_memcached.py parses
// (memcached_parameters.cpp).
MemcachedOptions memcached_options(std::vector<std::string> servers, bool binary, std::size_t pool_size,
                                   std::map<std::string, long long> behaviors,
                                   std::optional<std::string> username, std::optional<std::string> password);

// Adds the result backends and the Results middleware (results_binding.cpp).
void bind_results(nanobind::module_& m);

// Adds dramatiq._engine.RedisBroker (redis_binding.cpp).
void bind_redis_broker(nanobind::module_& m);
// Adds dramatiq._engine.RabbitmqBroker (rabbitmq_binding.cpp).
void bind_rabbitmq_broker(nanobind::module_& m);
// Adds dramatiq._engine.Prometheus and render_prometheus_metrics (prometheus_binding.cpp).
void bind_prometheus(nanobind::module_& m);
// Adds the rate limiters, their backends and GroupCallbacks
// (rate_limits_binding.cpp).
void bind_rate_limits(nanobind::module_& m);

}  // namespace dramatiq::python
