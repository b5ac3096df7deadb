// Shared pieces of the Python bindings: Value <-> Python conversion, the
// ForeignObject that wraps a Python object, and the registry of Python
// classes the engine needs to know (exceptions, Message, MessageProxy).
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dramatiq/failure.hpp"
#include "dramatiq/memcached_options.hpp"
#include "dramatiq/message_proxy.hpp"
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/sqlite_backend_options.hpp"
#include "dramatiq/value.hpp"
#include "dramatiq/wait_interruption.hpp"

namespace dramatiq::python {

namespace nb = nanobind;

// Blocking calls made from Python wait without the GIL in slices of this
// length and run Python's signal handlers between them, so that Ctrl-C
// (KeyboardInterrupt) interrupts them at once, as it does upstream's.
inline constexpr std::chrono::milliseconds kSignalCheckInterval{50};

// The `keep_waiting` of an engine wait that polls it (Worker::stop,
// Barrier::wait), called without the GIL: it runs Python's signal handlers
// and answers false once one raised, keeping that exception for
// rethrow_if_raised() (with the GIL, after the wait returned).
class SignalCheck {
 public:
  bool operator()() {
    nb::gil_scoped_acquire gil;
    if (raised_ || PyErr_CheckSignals() == 0) return !raised_;
    raised_.emplace();  // takes the error out of the interpreter
    return false;
  }
  void rethrow_if_raised() {
    if (raised_) {
      nb::python_error error = std::move(*raised_);
      raised_.reset();
      throw error;
    }
  }

 private:
  std::optional<nb::python_error> raised_;
};

// Runs `call` without the GIL, its network waits (a server that does not
// answer) interruptible by Python's signal handlers: the handler's
// exception (KeyboardInterrupt) propagates; the connection is dropped.
template <typename Call>
auto without_gil_interruptibly(Call&& call) {
  SignalCheck signals;
  try {
    nb::gil_scoped_release release;
    InterruptibleWaits scope(std::ref(signals), kSignalCheckInterval);
    return call();
  } catch (const WaitInterrupted&) {
    signals.rethrow_if_raised();
    throw;
  }
}

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

// Python str <-> engine text. Lone surrogates (which Python strings may
// hold and UTF-8 cannot) travel as their 3-byte pattern ("surrogatepass"),
// so they survive the engine and write_json escapes them as json.dumps does.
// text_to_python never fails on bad bytes: they are shown escaped.
std::string text_from_python(nb::handle text);
nb::str text_to_python(std::string_view text);

// Python -> Value. Objects JSON cannot hold become Foreign references.
// A container that holds itself raises ValueError, and nesting deeper than
// kMaxJsonDepth raises RecursionError, as json.dumps does.
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
  nb::object cancelled;
  nb::object connection_error;  // dramatiq.errors.ConnectionError
  nb::object worker_thread_class;    // dramatiq.WorkerThread
  nb::object consumer_thread_class;  // dramatiq.ConsumerThread
  nb::object raise_thread_exception;  // dramatiq.threading.raise_thread_exception
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

// The file of an SQLite results or rate-limit backend from a path or an
// sqlite:// URL (not both: TypeError; a bad URL: ValueError); unset
// settings keep SQLiteBackendOptions' defaults, the URL's when it has them
// (sqlite_backend_parameters.cpp).
SQLiteBackendOptions sqlite_backend_options(const std::optional<std::string>& path,
                                            const std::optional<std::string>& url, std::optional<bool> durable,
                                            std::optional<std::int64_t> busy_timeout, const char* owner);

// Adds the result backends and the Results middleware (results_binding.cpp).
void bind_results(nanobind::module_& m);

// Adds dramatiq._engine.RedisBroker (redis_binding.cpp).
void bind_redis_broker(nanobind::module_& m);
// Adds dramatiq._engine.SQLiteBroker (sqlite_binding.cpp).
void bind_sqlite_broker(nanobind::module_& m);
// Adds dramatiq._engine.RabbitmqBroker (rabbitmq_binding.cpp).
void bind_rabbitmq_broker(nanobind::module_& m);
// Adds PythonBroker (brokers written in Python) and NativeConsumer (an
// engine consumer driven from Python) (python_brokers_binding.cpp).
void bind_python_brokers(nanobind::module_& m);
// Adds dramatiq._engine.Prometheus and render_prometheus_metrics (prometheus_binding.cpp).
void bind_prometheus(nanobind::module_& m);
// The ThreadHooks::around_message that hands each message to `dispatch`
// (Python, with the message's view), and process_current_message, which
// the original _WorkerThread.process_message calls (process_message_patch.cpp).
std::function<void(MessageProxy&, const std::function<void()>&)> around_message_in_python(nb::object dispatch);
void bind_process_message(nanobind::module_& m);
// Adds call_native_hook: a built-in middleware's hook called from Python
// (native_hooks.cpp).
void bind_native_hooks(nanobind::module_& m);
// Adds the rate limiters, their backends and GroupCallbacks
// (rate_limits_binding.cpp).
void bind_rate_limits(nanobind::module_& m);
// Adds PeriodicTask and Scheduler (schedule_binding.cpp).
void bind_schedules(nanobind::module_& m);

}  // namespace dramatiq::python
