// The dramatiq._engine extension module: the engine's classes as the
// Python package needs them. Conversions and adapters only; no engine logic.
#include <algorithm>

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/set.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/connect.hpp"
#include "dramatiq/default_middleware.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/redacted_url.hpp"
#include "dramatiq/result_backend.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"
#include "py_actor.hpp"
#include "py_common.hpp"
#include "py_encoder.hpp"
#include "py_middleware.hpp"
#include "runtime.hpp"

namespace nb = nanobind;
using namespace nb::literals;
using namespace dramatiq;
using namespace dramatiq::python;

namespace {

nb::dict& error_classes() {
  static nb::dict* classes = new nb::dict();
  return *classes;
}

// Sets the Python error (translators must set it, not throw).
void set_error(const char* name, const char* message) {
  nb::dict& classes = error_classes();
  PyErr_SetString(classes.contains(name) ? classes[name].ptr() : PyExc_RuntimeError, message);
}

[[noreturn]] void raise_as(const char* name, const char* message) {
  set_error(name, message);
  throw nb::python_error();
}

void translate_exceptions(const std::exception_ptr& error, void*) {
  try {
    std::rethrow_exception(error);
  } catch (const HostException& e) {
    auto* ref = dynamic_cast<const PyObjectRef*>(e.failure().host_exception.get());
    if (ref) {
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(ref->object().ptr())), ref->object().ptr());
    } else {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  } catch (const JsonEncodeError& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
  } catch (const JsonNestingError& e) {
    PyErr_SetString(PyExc_RecursionError, e.what());
  } catch (const MiddlewareError& e) {
    auto* ref = dynamic_cast<const PyObjectRef*>(e.host_exception.get());
    if (ref) {
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(ref->object().ptr())), ref->object().ptr());
    } else {
      PyErr_SetString(error_classes().contains("MiddlewareError")
                          ? error_classes()["MiddlewareError"].ptr() : PyExc_RuntimeError,
                      e.what());
    }
  } catch (const ResultFailure& e) {
    nb::dict& classes = error_classes();
    if (!classes.contains("ResultFailure")) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
      return;
    }
    nb::object error = classes["ResultFailure"](e.what(), e.exception_type, e.exception_message);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  } catch (const ResultMissing& e) {
    set_error("ResultMissing", e.what());
  } catch (const ResultTimeout& e) {
    set_error("ResultTimeout", e.what());
  } catch (const ActorNotFound& e) {
    set_error("ActorNotFound", e.what());
  } catch (const QueueNotFound& e) {
    set_error("QueueNotFound", e.what());
  } catch (const QueueJoinTimeout& e) {
    set_error("QueueJoinTimeout", e.what());
  } catch (const ConnectionFailed& e) {
    set_error("ConnectionFailed", e.what());
  } catch (const ConnectionClosed& e) {
    set_error("ConnectionClosed", e.what());
  } catch (const BrokerConnectionError& e) {
    set_error("ConnectionError", e.what());
  } catch (const DecodeError& e) {
    set_error("DecodeError", e.what());
  } catch (const BrokerError& e) {
    set_error("BrokerError", e.what());
  } catch (const DramatiqError& e) {
    set_error("DramatiqError", e.what());
  }
}

// Runs `operation` (which releases the GIL itself); a broker without it
// (the engine's std::logic_error) is NotImplementedError, as for a broker
// written in Python.
template <class Operation>
auto unless_unsupported(Operation&& operation) {
  try {
    return operation();
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::logic_error& e) {
    PyErr_SetString(PyExc_NotImplementedError, e.what());
    throw nb::python_error();
  }
}

std::optional<std::int64_t> optional_delay(nb::handle delay) {
  if (delay.is_none()) return std::nullopt;
  return nb::cast<std::int64_t>(delay);
}

// The Python object of a dead letter: its message view (or raw bytes when
// it could not be decoded).
nb::object dead_letter_message(const DeadLetter& letter) {
  if (letter.message->decode_error) return nb::bytes(letter.message->raw.data(), letter.message->raw.size());
  return proxy_view(letter.message);
}

nb::object host_exception(const MessageProxy& proxy) {
  if (!proxy.failure) return nb::none();
  if (auto* ref = dynamic_cast<const PyObjectRef*>(proxy.failure->host_exception.get())) return ref->object();
  // Engine-raised failures (unknown actor, undecodable bytes, age limit...)
  // become the Python exception class of the same name; so do failures
  // recorded by another process (a dead letter read back from a broker)
  // whose class is a built-in one.
  nb::dict& classes = error_classes();
  const char* name = proxy.failure->type_name.c_str();
  nb::object builtin = nb::getattr(nb::module_::import_("builtins"), name, nb::none());
  bool is_builtin_exception = !builtin.is_none() && PyType_Check(builtin.ptr()) &&
                              PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(builtin.ptr()),
                                               reinterpret_cast<PyTypeObject*>(PyExc_Exception));
  nb::object cls = classes.contains(name)             ? nb::borrow(classes[name])
                   : is_builtin_exception             ? builtin
                   : classes.contains("DramatiqError") ? nb::borrow(classes["DramatiqError"])
                                                       : nb::borrow(PyExc_RuntimeError);
  return cls(text_to_python(proxy.failure->message));
}

}  // namespace

NB_MODULE(_engine, m) {
  m.doc() = "The dramatiq-cpp engine (C++).";
  nb::register_exception_translator(translate_exceptions);
  // Brokers and middleware legitimately live until interpreter exit.
  nb::set_leak_warnings(false);

  m.def("register_python", [](nb::kwargs classes) {
    Registry& r = registry();
    auto take = [&](const char* name) -> nb::object {
      return classes.contains(name) ? nb::borrow(classes[name]) : nb::object();
    };
    r.message_factory = take("message_factory");
    r.proxy_class = take("proxy_class");
    r.retry = take("Retry");
    r.rate_limit_exceeded = take("RateLimitExceeded");
    r.middleware_error = take("MiddlewareError");
    r.skip_message = take("SkipMessage");
    r.time_limit_exceeded = take("TimeLimitExceeded");
    r.shutdown = take("Shutdown");
    r.cancelled = take("Cancelled");
    r.raise_thread_exception = take("raise_thread_exception");
    r.connection_error = take("ConnectionError");
    r.worker_thread_class = take("WorkerThread");
    r.consumer_thread_class = take("ConsumerThread");
    r.format_exception = nb::module_::import_("traceback").attr("format_exception");
    r.get_logger = nb::module_::import_("logging").attr("getLogger");
    for (auto [key, value] : classes) error_classes()[key] = value;
    install_runtime();
  });
  m.def("set_log_level", [](int level) { log::set_min_level(static_cast<log::Level>(level)); });

  m.attr("MAX_JSON_DEPTH") = kMaxJsonDepth;
  m.def("json_dumps", [](nb::handle obj) {
    std::string out = to_json(to_value(obj));
    return nb::bytes(out.data(), out.size());
  }, "obj"_a.none(), "Serializes like json.dumps(obj, separators=(',', ':')) to UTF-8 bytes.");
  m.def("json_loads", [](nb::handle data) {
    std::string_view text;
    std::string holder;
    if (PyBytes_Check(data.ptr())) {
      text = std::string_view(PyBytes_AS_STRING(data.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(data.ptr())));
    } else if (PyByteArray_Check(data.ptr()) || PyMemoryView_Check(data.ptr())) {
      holder = nb::cast<std::string>(nb::str(nb::bytes(data)));
      text = holder;
    } else {
      holder = nb::cast<std::string>(data);
      text = holder;
    }
    Value value;
    try {
      value = read_json(text);
    } catch (const JsonDecodeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
      throw nb::python_error();
    }
    return from_value(value);
  });
  m.def("set_python_encoder", [](nb::object encoder) {
    if (encoder.is_none()) {
      set_encoder(std::make_shared<JsonEncoder>());
    } else {
      set_encoder(std::make_shared<PyEncoder>(std::move(encoder)));
    }
  }, "encoder"_a.none());
  m.def("current_message", []() -> nb::object {
    MessageProxy* proxy = CurrentMessage::current();
    return proxy ? proxy_view(*proxy) : nb::none();
  });
  m.def("is_valid_queue_name", &is_valid_queue_name, "name"_a,
        "Whether `name` is a valid queue name: [a-zA-Z_][a-zA-Z0-9._-]*.");
  m.def("generate_message_id", &generate_message_id, "A random UUID4 string (the engine's message ids).");
  m.def("redacted_url", [](const std::string& url) { return redacted_url(url); }, "url"_a,
        "The URL with the password of its user information replaced by '***', for messages.");
  m.def("compute_backoff", &compute_backoff, "attempts"_a, "factor"_a, "max_backoff"_a);

  // ---- deliveries (the engine side of a Python MessageProxy)
  nb::class_<MessageProxy>(m, "Delivery")
      .def("fail", &MessageProxy::fail)
      .def_prop_ro("failed", [](const MessageProxy& p) { return p.failed; })
      .def_prop_ro("exception", [](const MessageProxy& p) { return host_exception(p); })
      .def_prop_ro("decode_error", [](const MessageProxy& p) { return p.decode_error; })
      .def_prop_ro("message", [](const MessageProxy& p) { return message_to_python(p.message); });

  // ---- middleware
  nb::class_<Middleware>(m, "Middleware")
      .def_prop_ro("name", &Middleware::name)
      .def_prop_ro("actor_options", &Middleware::actor_options);
  // The hook list the Python base class defines its hook methods from:
  // (name, positional parameters, keyword-only parameters, docstring).
  {
    nb::list hooks;
    for (const PythonHookSpec& spec : python_hook_specs()) {
      nb::list positional, keyword;
      for (const char* p : spec.positional) positional.append(nb::str(p));
      for (const char* k : spec.keyword) keyword.append(nb::str(k));
      hooks.append(nb::make_tuple(nb::str(spec.name), nb::tuple(positional), nb::tuple(keyword),
                                  nb::str(spec.doc)));
    }
    m.attr("MIDDLEWARE_HOOKS") = nb::tuple(hooks);
  }
  // The class names of dramatiq.middleware.default_middleware, in order.
  {
    nb::list names;
    for (const std::string& name : default_middleware_names()) names.append(nb::str(name.c_str()));
    m.attr("DEFAULT_MIDDLEWARE") = nb::tuple(names);
  }
  // Broker URLs: the schemes dramatiq.brokers.from_url dispatches on, and
  // their check (ValueError naming the URL).
  {
    nb::list schemes;
    for (const std::string& scheme : broker_url_schemes()) schemes.append(nb::str(scheme.c_str()));
    m.attr("BROKER_URL_SCHEMES") = nb::tuple(schemes);
  }
  m.def("broker_url_scheme", [](const std::string& url) { return broker_url_scheme(url); }, "url"_a);
  nb::class_<PyMiddleware, Middleware>(m, "PythonMiddleware")
      .def(nb::init<nb::object, const std::vector<std::string>&, nb::object>(), "middleware"_a,
           "hooks"_a, "broker"_a);
  nb::class_<AgeLimit, Middleware>(m, "AgeLimit")
      .def("__init__", [](AgeLimit* self, nb::handle max_age) { new (self) AgeLimit(to_value(max_age)); },
           "max_age"_a.none())
      .def_prop_rw("max_age", [](const AgeLimit& s) { return from_value(s.max_age); },
                   [](AgeLimit& s, nb::handle v) { s.max_age = to_value(v); });
  nb::class_<TimeLimit, Middleware>(m, "TimeLimit")
      .def("__init__", [](TimeLimit* self, nb::handle limit, std::int64_t interval) {
             new (self) TimeLimit(to_value(limit), interval);
           }, "time_limit"_a, "interval"_a)
      .def_prop_rw("time_limit", [](const TimeLimit& s) { return from_value(s.time_limit); },
                   [](TimeLimit& s, nb::handle v) { s.time_limit = to_value(v); })
      .def_ro("interval", &TimeLimit::interval)
      // Deadlines as time.monotonic() seconds: steady_clock is CLOCK_MONOTONIC too.
      .def("deadlines",
           [](const TimeLimit& s) {
             nb::dict out;
             for (auto& [thread, deadline] : s.deadlines()) {
               out[nb::int_(thread)] = std::chrono::duration<double>(deadline.time_since_epoch()).count();
             }
             return out;
           })
      .def("set_deadlines",
           [](TimeLimit& s, const std::map<ThreadId, double>& deadlines) {
             TimeLimit::Deadlines out;
             for (auto [thread, seconds] : deadlines) {
               out[thread] = std::chrono::steady_clock::time_point(
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(seconds)));
             }
             s.set_deadlines(std::move(out));
           })
      .def("check_deadlines", &TimeLimit::check_deadlines)
      .def_ro_static("DEFAULT_TIME_LIMIT", &TimeLimit::kDefaultTimeLimit)
      .def_ro_static("DEFAULT_INTERVAL", &TimeLimit::kDefaultInterval);
  nb::class_<ShutdownNotifications, Middleware>(m, "ShutdownNotifications")
      .def(nb::init<bool>(), "notify_shutdown"_a)
      .def_rw("notify_shutdown", &ShutdownNotifications::notify_shutdown)
      .def("should_notify",
           [](const ShutdownNotifications& s, nb::handle message_options, nb::handle actor_options) {
             return s.should_notify(to_value(message_options), to_value(actor_options));
           })
      .def("notify_threads", &ShutdownNotifications::notify_threads)
      .def("notified_threads", &ShutdownNotifications::notified_threads)
      .def("set_notified_threads", &ShutdownNotifications::set_notified_threads);
  nb::class_<Callbacks, Middleware>(m, "Callbacks").def(nb::init<>());
  nb::class_<Pipelines, Middleware>(m, "Pipelines").def(nb::init<>());
  nb::class_<CurrentMessage, Middleware>(m, "CurrentMessage").def(nb::init<>());
  nb::class_<Retries, Middleware>(m, "Retries")
      // Unset (None) backoffs are the engine's defaults.
      .def("__init__", [](Retries* self, nb::handle max_retries, std::optional<std::int64_t> min_backoff,
                          std::optional<std::int64_t> max_backoff, nb::handle retry_when) {
             new (self) Retries(to_value(max_retries), min_backoff.value_or(Retries::kDefaultMinBackoff),
                                max_backoff.value_or(Retries::kDefaultMaxBackoff),
                                retry_when.is_none() ? Value() : Value(wrap(retry_when)));
           }, "max_retries"_a.none(), "min_backoff"_a.none(), "max_backoff"_a.none(), "retry_when"_a.none())
      .def_ro_static("DEFAULT_MAX_RETRIES", &Retries::kDefaultMaxRetries)
      .def_ro_static("DEFAULT_MIN_BACKOFF", &Retries::kDefaultMinBackoff)
      .def_ro_static("DEFAULT_MAX_BACKOFF", &Retries::kDefaultMaxBackoff)
      .def_prop_rw("max_retries", [](const Retries& s) { return from_value(s.max_retries); },
                   [](Retries& s, nb::handle v) { s.max_retries = to_value(v); })
      .def_rw("min_backoff", &Retries::min_backoff)
      .def_rw("max_backoff", &Retries::max_backoff)
      .def_prop_rw("retry_when", [](const Retries& s) { return from_value(s.retry_when); },
                   [](Retries& s, nb::handle v) { s.retry_when = v.is_none() ? Value() : Value(wrap(v)); });

  // ---- brokers
  nb::class_<Broker>(m, "Broker")
      .def("add_middleware", [](Broker& b, std::shared_ptr<Middleware> mw, std::optional<std::size_t> index) {
             nb::gil_scoped_release release;
             b.add_middleware(std::move(mw), index);
           }, "middleware"_a, "index"_a.none())
      .def("set_middleware", [](Broker& b, std::vector<std::shared_ptr<Middleware>> middleware) {
             nb::gil_scoped_release release;
             b.set_middleware(std::move(middleware));
           }, "middleware"_a)
      .def("actor_options", [](Broker& b) {
             nb::gil_scoped_release release;
             return b.actor_options();
           })
      .def("declare_actor", [](Broker& b, const std::string& name, const std::string& queue, int priority,
                               nb::handle options, nb::object function, nb::handle host_actor) {
             auto actor = std::make_shared<Actor>();
             actor->actor_name = name;
             actor->queue_name = queue;
             actor->priority = priority;
             actor->options = to_value(options);
             actor->body = std::make_shared<PyActorBody>(std::move(function));
             actor->host_actor = wrap(host_actor);
             nb::gil_scoped_release release;
             b.declare_actor(std::move(actor));
           }, "actor_name"_a, "queue_name"_a, "priority"_a, "options"_a, "function"_a, "host_actor"_a)
      .def("set_actor_function", [](Broker& b, const std::string& name, nb::object function) {
             std::shared_ptr<Actor> actor;
             {
               nb::gil_scoped_release release;
               actor = b.find_actor(name);
             }
             auto* body = actor ? dynamic_cast<PyActorBody*>(actor->body.get()) : nullptr;
             if (!body) throw nb::key_error(name.c_str());
             body->set_function(std::move(function));
           }, "actor_name"_a, "function"_a)
      .def("declare_queue", [](Broker& b, const std::string& q) {
             nb::gil_scoped_release release;
             b.declare_queue(q);
           })
      .def("cancel", [](Broker& b, const std::string& message_id, std::optional<std::int64_t> ttl) {
             auto lifetime = ttl ? std::chrono::milliseconds(*ttl) : kDefaultCancellationTtl;
             without_gil_interruptibly([&] { b.cancel(message_id, lifetime); });
           }, "message_id"_a, "ttl"_a.none())
      .def_prop_ro("supports_cancellation", &Broker::supports_cancellation)
      .def("queue_counts", [](Broker& b, const std::string& queue) {
             QueueCounts counts = without_gil_interruptibly([&] { return b.queue_counts(queue); });
             nb::dict out;
             out["ready"] = counts.ready;
             out["delayed"] = counts.delayed;
             out["in_flight"] = counts.in_flight ? nb::cast(*counts.in_flight) : nb::none();
             out["dead"] = counts.dead;
             return out;
           }, "queue_name"_a)
      // [(id, message id or None, dead_at ms or None, encoded bytes,
      // failure type, failure message, traceback)], oldest first.
      .def("list_dead_letters", [](Broker& b, const std::string& queue, std::size_t limit) {
             auto letters = unless_unsupported(
                 [&] { return without_gil_interruptibly([&] { return b.list_dead_letters(queue, limit); }); });
             nb::list out;
             for (auto& letter : letters) {
               out.append(nb::make_tuple(letter.id, letter.message_id, letter.dead_at_ms,
                                         nb::bytes(letter.data.data(), letter.data.size()),
                                         letter.failure_type, letter.failure_message, letter.traceback));
             }
             return out;
           }, "queue_name"_a, "limit"_a)
      // [(encoded bytes, delayed)]: ready first, in the order they are taken.
      .def("list_messages", [](Broker& b, const std::string& queue, std::size_t limit) {
             auto messages = unless_unsupported(
                 [&] { return without_gil_interruptibly([&] { return b.list_messages(queue, limit); }); });
             nb::list out;
             for (auto& message : messages) {
               out.append(nb::make_tuple(nb::bytes(message.data.data(), message.data.size()), message.delayed));
             }
             return out;
           }, "queue_name"_a, "limit"_a)
      .def_prop_ro("keeps_worker_records", &Broker::keeps_worker_records)
      .def("list_worker_records", [](Broker& b) {
             auto records = unless_unsupported(
                 [&] { return without_gil_interruptibly([&] { return b.list_worker_records(); }); });
             nb::list out;
             for (const auto& record : records) {
               nb::list running;
               for (const auto& message : record.running) {
                 nb::dict one;
                 one["thread"] = message.thread;
                 one["message_id"] = message.message_id;
                 one["actor_name"] = message.actor_name;
                 one["queue_name"] = message.queue_name;
                 one["started_at"] = message.started_at_ms;
                 running.append(one);
               }
               nb::dict item;
               item["worker_id"] = record.worker_id;
               item["hostname"] = record.hostname;
               item["pid"] = record.pid;
               item["started_at"] = record.started_at_ms;
               item["heartbeat_at"] = record.heartbeat_at_ms;
               item["expires_at"] = record.expires_at_ms;
               item["worker_threads"] = record.worker_threads;
               item["queues"] = nb::cast(record.queues);
               nb::dict held;
               for (const auto& [queue, count] : record.held) held[nb::cast(queue)] = count;
               item["held"] = held;
               item["running"] = running;
               item["processed"] = record.processed;
               item["failed"] = record.failed;
               item["retried"] = record.retried;
               item["skipped"] = record.skipped;
               item["recent_durations"] = nb::cast(record.recent_durations_ms);
               item["recent_waits"] = nb::cast(record.recent_waits_ms);
               out.append(item);
             }
             return out;
           })
      .def("requeue_dead_letters", [](Broker& b, const std::string& queue, const std::vector<std::string>& ids) {
             return unless_unsupported(
                 [&] { return without_gil_interruptibly([&] { return b.requeue_dead_letters(queue, ids); }); });
           }, "queue_name"_a, "ids"_a)
      .def("delete_dead_letters", [](Broker& b, const std::string& queue, const std::vector<std::string>& ids) {
             return unless_unsupported(
                 [&] { return without_gil_interruptibly([&] { return b.delete_dead_letters(queue, ids); }); });
           }, "queue_name"_a, "ids"_a)
      .def("get_declared_queues", &Broker::get_declared_queues)
      .def("get_declared_delay_queues", &Broker::get_declared_delay_queues)
      .def("get_declared_actors", &Broker::get_declared_actors)
      .def("enqueue", [](Broker& b, nb::handle message, nb::handle delay) {
             Message native = message_from_python(message);
             auto wait = optional_delay(delay);
             // Python code calling Broker.enqueue (super().enqueue() of an
             // override included): this broker's own.
             Message stored = without_gil_interruptibly([&] { return b.enqueue_here(std::move(native), wait); });
             // args and kwargs cannot change on the way: reuse the caller's.
             return registry().message_factory(nb::str(stored.queue_name.c_str()),
                                                nb::str(stored.actor_name.c_str()),
                                                nb::getattr(message, "args"), nb::getattr(message, "kwargs"),
                                                from_value(stored.options), nb::str(stored.message_id.c_str()),
                                                nb::int_(stored.message_timestamp));
           }, "message"_a, "delay"_a.none())
      .def("emit", [](Broker& b, const std::string& signal) {
             nb::gil_scoped_release release;
             if (signal == "after_process_boot") {
               b.emit_after(signal.c_str(), [&](Middleware& mw) { mw.after_process_boot(b); });
             } else if (signal == "before_process_stop") {
               b.emit_before(signal.c_str(), [&](Middleware& mw) { mw.before_process_stop(b); });
             } else if (signal == "after_process_stop") {
               b.emit_after(signal.c_str(), [&](Middleware& mw) { mw.after_process_stop(b); });
             } else {
               throw std::invalid_argument("unsupported signal: " + signal);
             }
           })
      .def("flush", [](Broker& b, const std::string& q) {
             nb::gil_scoped_release release;
             b.flush(q);
           })
      .def("enqueue_all", [](Broker& b, nb::handle messages, nb::handle delay) {
             std::vector<Message> natives;
             for (nb::handle message : messages) natives.push_back(message_from_python(message));
             auto wait = optional_delay(delay);
             std::vector<Message> stored =
                 without_gil_interruptibly([&] { return b.enqueue_all(std::move(natives), wait); });
             nb::list result;
             for (const auto& message : stored) result.append(message_to_python(message));
             return result;
           }, "messages"_a, "delay"_a.none())
      .def("flush_all", [](Broker& b) {
             nb::gil_scoped_release release;
             b.flush_all();
           })
      .def("join", [](Broker& b, const std::string& queue, std::optional<std::int64_t> timeout,
                      bool fail_fast, std::int64_t interval) {
             // Waits in slices without the GIL and runs Python's signal
             // handlers between them, so Ctrl-C interrupts a join at once.
             using Clock = std::chrono::steady_clock;
             constexpr auto kSlice = kSignalCheckInterval;
             auto deadline = timeout ? std::optional(Clock::now() + std::chrono::milliseconds(*timeout))
                                     : std::nullopt;
             JoinOptions options;
             options.fail_fast = fail_fast;
             options.poll_interval = std::chrono::milliseconds(std::max<std::int64_t>(1, interval));
             std::shared_ptr<MessageProxy> dead;
             while (true) {
               auto slice = kSlice;
               if (deadline) {
                 slice = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()),
                                    std::chrono::milliseconds(0), kSlice);
               }
               options.timeout = slice;
               bool finished;
               {
                 nb::gil_scoped_release release;
                 finished = b.join(queue, options, &dead);
               }
               if (finished) break;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
               if (deadline && Clock::now() >= *deadline) raise_as("QueueJoinTimeout", queue.c_str());
             }
             if (dead) {
               nb::object exception = host_exception(*dead);
               // A dead letter that kept no exception still failed (upstream's words).
               if (exception.is_none()) {
                 exception = nb::borrow(PyExc_Exception)(nb::str("Message failed with unknown error"));
               }
               PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
               throw nb::python_error();
             }
           }, "queue_name"_a, "timeout"_a.none(), "fail_fast"_a = false, "interval"_a = 100)
      .def("close", &Broker::close);

  nb::class_<StubBroker, Broker>(m, "StubBroker")
      .def(nb::init<>())
      .def("put_raw", [](StubBroker& b, const std::string& queue, nb::bytes data) {
             b.put_raw(queue, std::string(data.c_str(), data.size()));
           })
      .def("take_raw", [](StubBroker& b, const std::string& queue, std::int64_t timeout) -> nb::object {
             std::optional<std::string> item;
             {
               nb::gil_scoped_release release;
               item = b.take_raw(queue, std::chrono::milliseconds(timeout));
             }
             if (!item) return nb::none();
             return nb::bytes(item->data(), item->size());
           })
      .def("task_done", &StubBroker::task_done)
      .def("queue_size", &StubBroker::queue_size)
      .def("unfinished_tasks", &StubBroker::unfinished_tasks)
      .def("queue_contents", [](StubBroker& b, const std::string& queue) {
             nb::list items;
             for (auto& item : b.queue_contents(queue)) items.append(nb::bytes(item.data(), item.size()));
             return items;
           })
      .def("set_dead_letters_keep_exceptions", [](StubBroker& b, nb::object keeps) {
             ForeignPtr held = wrap(keeps);  // dropped with the GIL, whichever thread lets go last
             b.set_dead_letters_keep_exceptions([held] {
               // Taken for this call only, not kept as hold_gil() keeps it:
               // a consumer thread dead-letters too, and never yields.
               nb::gil_scoped_acquire gil;
               try {
                 return nb::cast<bool>(static_cast<const PyObjectRef&>(*held).object()());
               } catch (nb::python_error& error) {
                 error.discard_as_unraisable("dramatiq: deciding whether a dead letter keeps its exception");
                 return true;
               }
             });
           }, "keeps"_a,
           "Sets the callable (no arguments) that says whether a message dead-lettered now keeps its exception.")
      .def("dead_letters", [](StubBroker& b) {
             nb::list letters;
             for (auto& letter : b.dead_letters()) {
               letters.append(nb::make_tuple(nb::str(letter.queue_name.c_str()), dead_letter_message(letter)));
             }
             return letters;
           })
      .def("clear_dead_letters", &StubBroker::clear_dead_letters, "queue_name"_a,
           "Drops the dead letters of one queue.");

  bind_python_brokers(m);
  bind_redis_broker(m);
  bind_sqlite_broker(m);
  bind_rabbitmq_broker(m);
  bind_results(m);
  bind_prometheus(m);
  bind_rate_limits(m);
  bind_schedules(m);
  bind_native_hooks(m);
  bind_process_message(m);

  // ---- worker
  // Unset (None) settings are resolved by the engine: environment, then defaults.
  m.def("worker_environment", [] {
    WorkerEnvironment environment = worker_environment();
    nb::dict values;
    values["worker_timeout"] = environment.worker_timeout_ms;
    values["queue_prefetch"] = environment.queue_prefetch;
    values["delay_queue_prefetch"] = environment.delay_prefetch;
    return values;
  }, "$dramatiq_worker_timeout, $dramatiq_queue_prefetch and $dramatiq_delay_queue_prefetch (None when unset).");
  m.def("default_worker_timeout", [] { return *WorkerOptions{}.resolved().worker_timeout_ms; },
        "The worker timeout (ms) a Worker gets when none is given.");
  m.def("default_consumer_restart_delay", [] {
    return worker_environment().consumer_restart_delay_ms.value_or(WorkerOptions{}.consumer_restart_delay_ms);
  }, "$dramatiq_restart_delay, else the engine's consumer restart delay (ms).");
  nb::class_<Worker>(m, "Worker")
      .def("__init__", [](Worker* self, std::shared_ptr<Broker> broker, std::optional<std::set<std::string>> queues,
                          std::optional<int> worker_timeout, std::optional<int> worker_threads,
                          nb::handle host_worker, std::optional<int> consumer_restart_delay,
                          nb::object process_message) {
             WorkerOptions options;
             options.queues = std::move(queues);
             options.worker_timeout_ms = worker_timeout;
             if (worker_threads) options.worker_threads = *worker_threads;
             if (consumer_restart_delay) options.consumer_restart_delay_ms = *consumer_restart_delay;
             ThreadHooks hooks = python_thread_hooks();
             // Only when _WorkerThread.process_message is patched: the slow path.
             if (!process_message.is_none()) hooks.around_message = around_message_in_python(process_message);
             new (self) Worker(std::move(broker), std::move(options), std::move(hooks));
             self->host_worker = wrap(host_worker);
           }, "broker"_a, "queues"_a.none(), "worker_timeout"_a.none(), "worker_threads"_a.none(),
           "host_worker"_a, "consumer_restart_delay"_a.none() = nb::none(), "process_message"_a.none() = nb::none())
      // Interruptible: watching the broker's cancellations first reads
      // those in force, a network wait Ctrl-C may cut short.
      .def("start", [](Worker& w) { without_gil_interruptibly([&] { w.start(); }); })
      .def("pause", &Worker::pause, nb::call_guard<nb::gil_scoped_release>())
      .def("resume", &Worker::resume, nb::call_guard<nb::gil_scoped_release>())
      .def("join", [](Worker& w) {
             // In slices without the GIL, running Python's signal handlers
             // between them: Ctrl-C interrupts a join at once.
             while (true) {
               bool drained;
               {
                 nb::gil_scoped_release release;
                 drained = w.join_for(kSignalCheckInterval);
               }
               if (drained) return;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
             }
           })
      .def("stop", [](Worker& w, std::optional<std::int64_t> timeout) {
             // While in-flight messages finish, Python's signal handlers run
             // every slice; an exception from one (KeyboardInterrupt) ends
             // the wait as the timeout would, the stop completes (what still
             // runs settles its message when done), and then it propagates.
             SignalCheck signals;
             {
               nb::gil_scoped_release release;
               w.stop(timeout ? std::chrono::milliseconds(*timeout) : Worker::kDefaultStopTimeout,
                      std::ref(signals), kSignalCheckInterval);
             }
             signals.rethrow_if_raised();
           }, "timeout"_a.none())
      .def_prop_ro("worker_timeout", &Worker::worker_timeout_ms)
      .def_prop_rw("queue_prefetch", &Worker::queue_prefetch, &Worker::set_queue_prefetch)
      .def_prop_rw("delay_prefetch", &Worker::delay_prefetch, &Worker::set_delay_prefetch)
      .def_prop_ro("worker_threads", &Worker::worker_threads)
      .def("consumed_queues", &Worker::consumed_queues)
      .def("outstanding_messages", &Worker::outstanding_messages, "queue_name"_a)
      .def("worker_thread_ids", &Worker::worker_thread_ids)
      .def("pause_thread", &Worker::pause_thread, "ident"_a)
      .def("resume_thread", &Worker::resume_thread, "ident"_a)
      .def("wait_thread_paused", [](Worker& w, ThreadId ident, std::optional<double> timeout) {
             // In slices without the GIL (the thread may need it to park),
             // running Python's signal handlers between them.
             using Clock = std::chrono::steady_clock;
             auto deadline = timeout ? std::optional(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                                        std::chrono::duration<double>(*timeout)))
                                     : std::nullopt;
             while (true) {
               auto slice = kSignalCheckInterval;
               if (deadline) {
                 slice = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()),
                                    std::chrono::milliseconds(0), kSignalCheckInterval);
               }
               bool parked;
               {
                 nb::gil_scoped_release release;
                 parked = w.wait_thread_paused(ident, slice);
               }
               if (parked) return true;
               if (PyErr_CheckSignals() != 0) throw nb::python_error();
               if (deadline && Clock::now() >= *deadline) return false;
             }
           }, "ident"_a, "timeout"_a.none())
      .def_prop_ro("queued_messages", &Worker::queued_messages);
}
