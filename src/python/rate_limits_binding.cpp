// dramatiq._engine's rate limiters, their backends and GroupCallbacks.
// Native calls release the GIL while they talk to the store; a backend
// written in Python is reached through PythonRateLimiterBackend, which
// takes the GIL for each call.
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <stdexcept>

#include "dramatiq/group_callbacks.hpp"
#include "dramatiq/rate_limit_backends.hpp"
#include "dramatiq/rate_limits.hpp"
#include "py_common.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

using Millis = std::optional<std::chrono::milliseconds>;

Millis optional_millis(std::optional<std::int64_t> timeout) {
  if (!timeout) return std::nullopt;
  return std::chrono::milliseconds(*timeout);
}

// Upstream checks limiter arguments with assert: the same AssertionError
// here, for code that expects it.
template <typename Build>
auto asserting(Build build) {
  try {
    return build();
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_AssertionError, e.what());
    throw nb::python_error();
  }
}

// Python's own truth test for what a Python backend method returned.
bool truth(nb::handle value) {
  int result = PyObject_IsTrue(value.ptr());
  if (result < 0) throw nb::python_error();
  return result == 1;
}

// A dramatiq.rate_limits.RateLimiterBackend subclass written in Python.
// Exceptions its methods raise come back to Python unchanged.
class PythonRateLimiterBackend : public RateLimiterBackend {
 public:
  explicit PythonRateLimiterBackend(nb::object backend) : backend_(std::move(backend)) {}
  ~PythonRateLimiterBackend() override {
    if (!Py_IsInitialized()) {
      backend_.release();
      return;
    }
    nb::gil_scoped_acquire gil;
    backend_.reset();
  }

  bool add(const std::string& key, std::int64_t value, std::int64_t ttl) override {
    return call_flag("add", [&](nb::handle method) { return method(key, value, ttl); });
  }
  bool incr(const std::string& key, std::int64_t amount, std::int64_t maximum, std::int64_t ttl) override {
    return call_flag("incr", [&](nb::handle method) { return method(key, amount, maximum, ttl); });
  }
  bool decr(const std::string& key, std::int64_t amount, std::int64_t minimum, std::int64_t ttl) override {
    return call_flag("decr", [&](nb::handle method) { return method(key, amount, minimum, ttl); });
  }
  bool incr_and_sum(const std::string& key, const KeysFunction& keys, std::int64_t amount,
                    std::int64_t maximum, std::int64_t ttl) override {
    // The keys are computed now and handed over as a callable returning
    // them (the Python method may keep the callable; the limiter behind
    // `keys` may not live that long).
    std::vector<std::string> current = keys();
    return call_flag("incr_and_sum", [&](nb::handle method) {
      nb::object keys_callable = nb::cpp_function([current]() { return current; });
      return method(key, keys_callable, amount, maximum, ttl);
    });
  }
  bool wait(const std::string& key, Millis timeout) override {
    return call_flag("wait", [&](nb::handle method) {
      nb::object limit = timeout ? nb::object(nb::int_(timeout->count())) : nb::none();
      return method(key, limit);
    });
  }
  void wait_notify(const std::string& key, std::int64_t ttl) override {
    call_flag("wait_notify", [&](nb::handle method) {
      method(key, ttl);
      return nb::object(nb::bool_(true));
    });
  }
  const nb::object& object() const { return backend_; }

 private:
  template <typename Invoke>
  bool call_flag(const char* name, Invoke invoke) {
    nb::gil_scoped_acquire gil;
    try {
      return truth(invoke(nb::getattr(backend_, name)));
    } catch (nb::python_error& e) {
      throw HostException(failure_from_python(e));
    }
  }

  nb::object backend_;
};

// keys given from Python: a callable (as upstream passes it) or a list.
KeysFunction keys_from_python(nb::object keys) {
  if (!PyCallable_Check(keys.ptr())) {
    auto fixed = nb::cast<std::vector<std::string>>(keys);
    return [fixed] { return fixed; };
  }
  // Called with the GIL released (inside the backend call); the callable
  // outlives the call, held by the binding's frame.
  return [callable = keys.ptr()] {
    nb::gil_scoped_acquire gil;
    return nb::cast<std::vector<std::string>>(nb::handle(callable)());
  };
}

void translate_rate_limit_exceeded(const std::exception_ptr& error, void*) {
  try {
    std::rethrow_exception(error);
  } catch (const RateLimitExceeded& e) {
    const nb::object& cls = registry().rate_limit_exceeded;
    PyErr_SetString(cls.is_valid() ? cls.ptr() : PyExc_RuntimeError, e.what());
  }
}

}  // namespace

void bind_rate_limits(nb::module_& m) {
  nb::register_exception_translator(translate_rate_limit_exceeded);

  // ---- backends
  nb::class_<RateLimiterBackend>(m, "RateLimiterBackend")
      .def("add", &RateLimiterBackend::add, "key"_a, "value"_a, "ttl"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def("incr", &RateLimiterBackend::incr, "key"_a, "amount"_a, "maximum"_a, "ttl"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def("decr", &RateLimiterBackend::decr, "key"_a, "amount"_a, "minimum"_a, "ttl"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def("incr_and_sum", [](RateLimiterBackend& b, const std::string& key, nb::object keys,
                              std::int64_t amount, std::int64_t maximum, std::int64_t ttl) {
             KeysFunction function = keys_from_python(keys);
             nb::gil_scoped_release release;
             return b.incr_and_sum(key, function, amount, maximum, ttl);
           }, "key"_a, "keys"_a, "amount"_a, "maximum"_a, "ttl"_a)
      .def("wait", [](RateLimiterBackend& b, const std::string& key, std::optional<std::int64_t> timeout) {
             // In slices without the GIL, running Python's signal handlers
             // between them: Ctrl-C interrupts the wait at once.
             using Clock = std::chrono::steady_clock;
             auto limit = optional_millis(timeout);
             const auto deadline = limit ? std::optional(Clock::now() + *limit) : std::nullopt;
             while (true) {
               auto slice = kSignalCheckInterval;
               if (deadline) {
                 slice = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()),
                                    std::chrono::milliseconds(0), kSignalCheckInterval);
               }
               bool notified;
               {
                 nb::gil_scoped_release release;
                 notified = b.wait(key, slice);
               }
               if (notified) return true;
               if (deadline && Clock::now() >= *deadline) return false;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
             }
           }, "key"_a, "timeout"_a.none())
      .def("wait_notify", &RateLimiterBackend::wait_notify, "key"_a, "ttl"_a,
           nb::call_guard<nb::gil_scoped_release>());

  nb::class_<PythonRateLimiterBackend, RateLimiterBackend>(m, "PythonRateLimiterBackend")
      .def(nb::init<nb::object>(), "backend"_a)
      .def_prop_ro("object", &PythonRateLimiterBackend::object);

  nb::class_<StubRateLimiterBackend, RateLimiterBackend>(m, "StubRateLimiterBackend")
      .def(nb::init<>())
      .def("get", &StubRateLimiterBackend::get, "key"_a);

  nb::class_<SQLiteRateLimiterBackend, RateLimiterBackend>(m, "SQLiteRateLimiterBackend")
      .def("__init__", [](SQLiteRateLimiterBackend* self, std::optional<std::string> path,
                          std::optional<std::string> url, std::optional<bool> durable,
                          std::optional<std::int64_t> busy_timeout) {
             SQLiteBackendOptions options = sqlite_backend_options(path, url, durable, busy_timeout, "SQLiteBackend");
             nb::gil_scoped_release release;
             new (self) SQLiteRateLimiterBackend(std::move(options));
           }, "path"_a.none(), "url"_a.none(), "durable"_a.none(), "busy_timeout"_a.none())
      .def("get", &SQLiteRateLimiterBackend::get, "key"_a, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("path", [](const SQLiteRateLimiterBackend& b) { return b.options().path; })
      .def_prop_ro("durable", [](const SQLiteRateLimiterBackend& b) { return b.options().durable; });

  nb::class_<RedisRateLimiterBackend, RateLimiterBackend>(m, "RedisRateLimiterBackend")
      .def("__init__", [](RedisRateLimiterBackend* self, std::optional<std::string> url,
                          nb::dict parameters) {
             new (self) RedisRateLimiterBackend(redis_connection_options(url, parameters, "RedisBackend"));
           }, "url"_a.none(), "parameters"_a)
      .def_prop_ro("description", [](const RedisRateLimiterBackend& b) { return b.options().describe(); });

  nb::class_<MemcachedRateLimiterBackend, RateLimiterBackend>(m, "MemcachedRateLimiterBackend")
      .def("__init__", [](MemcachedRateLimiterBackend* self, std::vector<std::string> servers, bool binary,
                          std::size_t pool_size, std::map<std::string, long long> behaviors,
                          std::optional<std::string> username, std::optional<std::string> password) {
             new (self) MemcachedRateLimiterBackend(memcached_options(
                 std::move(servers), binary, pool_size, std::move(behaviors), std::move(username),
                 std::move(password)));
           }, "servers"_a, "binary"_a, "pool_size"_a, "behaviors"_a, "username"_a.none(), "password"_a.none())
      .def_prop_ro("servers", [](const MemcachedRateLimiterBackend& b) { return b.options().servers; })
      .def_prop_ro("binary", [](const MemcachedRateLimiterBackend& b) { return b.options().binary; });

  // ---- limiters
  nb::class_<RateLimiter>(m, "RateLimiter")
      .def("try_acquire", &RateLimiter::try_acquire, nb::call_guard<nb::gil_scoped_release>())
      .def("release", &RateLimiter::release, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_rw("key", &RateLimiter::key, &RateLimiter::set_key)
      .def_prop_rw("backend", &RateLimiter::backend, &RateLimiter::set_backend);

  nb::class_<ConcurrentRateLimiter, RateLimiter>(m, "ConcurrentRateLimiter")
      .def("__init__", [](ConcurrentRateLimiter* self, RateLimiterBackendPtr backend, std::string key,
                          std::int64_t limit, std::int64_t ttl) {
             asserting([&] {
               return new (self) ConcurrentRateLimiter(std::move(backend), std::move(key), limit, ttl);
             });
           }, "backend"_a, "key"_a, "limit"_a, "ttl"_a)
      .def_rw("limit", &ConcurrentRateLimiter::limit)
      .def_rw("ttl", &ConcurrentRateLimiter::ttl)
      .def_ro_static("DEFAULT_TTL", &ConcurrentRateLimiter::kDefaultTtl);

  nb::class_<BucketRateLimiter, RateLimiter>(m, "BucketRateLimiter")
      .def("__init__", [](BucketRateLimiter* self, RateLimiterBackendPtr backend, std::string key,
                          std::int64_t limit, std::int64_t bucket) {
             asserting([&] {
               return new (self) BucketRateLimiter(std::move(backend), std::move(key), limit, bucket);
             });
           }, "backend"_a, "key"_a, "limit"_a, "bucket"_a)
      .def_rw("limit", &BucketRateLimiter::limit)
      .def_rw("bucket", &BucketRateLimiter::bucket)
      .def_ro_static("DEFAULT_BUCKET", &BucketRateLimiter::kDefaultBucket);

  nb::class_<WindowRateLimiter, RateLimiter>(m, "WindowRateLimiter")
      .def("__init__", [](WindowRateLimiter* self, RateLimiterBackendPtr backend, std::string key,
                          std::int64_t limit, std::int64_t window) {
             asserting([&] {
               return new (self) WindowRateLimiter(std::move(backend), std::move(key), limit, window);
             });
           }, "backend"_a, "key"_a, "limit"_a, "window"_a)
      .def("current_keys", &WindowRateLimiter::current_keys)
      .def_rw("limit", &WindowRateLimiter::limit)
      .def_rw("window", &WindowRateLimiter::window);

  nb::class_<Barrier>(m, "Barrier")
      .def(nb::init<RateLimiterBackendPtr, std::string, std::int64_t>(), "backend"_a, "key"_a, "ttl"_a)
      .def_ro_static("DEFAULT_TTL", &Barrier::kDefaultTtl)
      .def("create", [](Barrier& b, std::int64_t parties) {
             return asserting([&] {
               nb::gil_scoped_release release;
               return b.create(parties);
             });
           }, "parties"_a)
      .def("wait", [](Barrier& b, bool block, std::optional<std::int64_t> timeout) {
             if (!block) {
               nb::gil_scoped_release release;
               return b.wait(false, std::nullopt);
             }
             // Python's signal handlers run between slices: Ctrl-C
             // interrupts a blocked party at once.
             SignalCheck signals;
             bool cleared;
             {
               nb::gil_scoped_release release;
               cleared = b.wait(optional_millis(timeout), std::ref(signals), kSignalCheckInterval);
             }
             signals.rethrow_if_raised();
             return cleared;
           }, "block"_a, "timeout"_a.none())
      .def_prop_rw("key", &Barrier::key, &Barrier::set_key)
      .def_prop_rw("backend", &Barrier::backend, &Barrier::set_backend)
      .def_prop_ro("events_key", &Barrier::events_key)
      .def_rw("ttl", &Barrier::ttl);

  // ---- middleware
  nb::class_<GroupCallbacks, Middleware>(m, "GroupCallbacks")
      .def(nb::init<RateLimiterBackendPtr, std::int64_t>(), "backend"_a, "barrier_ttl"_a)
      .def_ro_static("DEFAULT_BARRIER_TTL", &GroupCallbacks::kDefaultBarrierTtl)
      .def("create_barrier", [](GroupCallbacks& g, const std::string& uuid, std::int64_t parties) {
             return asserting([&] {
               nb::gil_scoped_release release;
               return g.create_barrier(uuid, parties);
             });
           }, "completion_uuid"_a, "parties"_a)
      .def_rw("barrier_ttl", &GroupCallbacks::barrier_ttl)
      .def_prop_ro("backend", &GroupCallbacks::backend);
}

}  // namespace dramatiq::python
