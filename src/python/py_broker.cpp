#include "py_broker.hpp"

#include <mutex>
#include <unordered_map>

#include "dramatiq/errors.hpp"

namespace dramatiq::python {

namespace {

nb::object object_of(const ForeignPtr& foreign) {
  auto* ref = dynamic_cast<const PyObjectRef*>(foreign.get());
  return ref ? ref->object() : nb::none();
}

bool is_instance(nb::handle object, const nb::object& cls) {
  return cls.is_valid() && PyObject_IsInstance(object.ptr(), cls.ptr()) == 1;
}

// pika's connection and channel errors, when pika is installed: upstream's
// brokers and tests raise them where a connection broke.
bool is_pika_connection_error(nb::handle exception) {
  PyObject* module = PyImport_GetModule(nb::str("pika.exceptions").ptr());
  if (!module) {
    PyErr_Clear();
    return false;
  }
  nb::object exceptions = nb::steal(module);
  for (const char* name : {"AMQPConnectionError", "AMQPChannelError"}) {
    nb::object cls = nb::getattr(exceptions, name, nb::none());
    if (!cls.is_none() && PyObject_IsInstance(exception.ptr(), cls.ptr()) == 1) return true;
  }
  return false;
}

}  // namespace

bool is_connection_error(nb::handle exception) {
  return is_instance(exception, registry().connection_error) || is_pika_connection_error(exception);
}

namespace {

// The Python side of a Consumer: an upstream-shaped iterator of
// MessageProxy objects (None: nothing within the timeout it was made with)
// with ack, nack, requeue and close.
class PyConsumer : public Consumer {
 public:
  PyConsumer(nb::object consumer, std::string queue_name)
      : consumer_(wrap(consumer)), queue_name_(std::move(queue_name)) {
    // As upstream's worker does (`for message in consumer`).
    try {
      iterator_ = wrap(nb::iter(consumer));
    } catch (const nb::python_error& e) {
      rethrow_broker_error(e, "Iterating the consumer of queue '" + queue_name_ + "'");
    }
  }

  ~PyConsumer() override = default;

  std::shared_ptr<MessageProxy> next(std::chrono::milliseconds /*timeout*/) override {
    // The wait is the consumer's own (the timeout it was made with).
    nb::gil_scoped_acquire gil;
    PyObject* item = PyIter_Next(object_of(iterator_).ptr());
    if (!item) {
      if (PyErr_Occurred()) {
        nb::python_error error;
        rethrow_broker_error(error, "Consuming queue '" + queue_name_ + "'");
      }
      throw BrokerError("The consumer of queue '" + queue_name_ + "' stopped iterating");
    }
    nb::object proxy = nb::steal(item);
    if (proxy.is_none()) return nullptr;
    try {
      auto delivery = std::make_shared<MessageProxy>(message_from_python(proxy));
      adopt(proxy, delivery);
      std::lock_guard lock(mutex_);
      origins_[delivery.get()] = wrap(proxy);
      return delivery;
    } catch (const nb::python_error& e) {
      rethrow_broker_error(e, "Reading a message of queue '" + queue_name_ + "'");
    }
  }

  void ack(MessageProxy& message) override { settle("ack", message); }
  void nack(MessageProxy& message) override { settle("nack", message); }

  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) override {
    nb::gil_scoped_acquire gil;
    nb::list proxies;
    for (const auto& message : messages) {
      sync_options_to_view(*message);
      proxies.append(take_origin(*message));
      message->host_view.reset();
    }
    try {
      object_of(consumer_).attr("requeue")(proxies);
    } catch (const nb::python_error& e) {
      rethrow_broker_error(e, "Requeueing messages of queue '" + queue_name_ + "'");
    }
  }

  void close() override {
    nb::gil_scoped_acquire gil;
    try {
      object_of(consumer_).attr("close")();
    } catch (const nb::python_error& e) {
      rethrow_broker_error(e, "Closing the consumer of queue '" + queue_name_ + "'");
    }
  }

  // Makes `delivery` the engine side of the Python proxy: its fail(),
  // failed and exception then read and write the engine's state, and hooks
  // see the proxy itself, as upstream's middleware see the consumer's.
  static void adopt(nb::handle proxy, const std::shared_ptr<MessageProxy>& delivery) {
    if (!is_instance(proxy, registry().proxy_class)) return;
    delivery->failed = nb::cast<bool>(nb::getattr(proxy, "failed"));
    nb::setattr(proxy, "_native", nb::cast(delivery));
    delivery->host_view = wrap(proxy);
  }

 private:
  void settle(const char* method, MessageProxy& message) {
    nb::gil_scoped_acquire gil;
    // What the engine's middleware changed (retries, traceback) is what the
    // broker stores.
    sync_options_to_view(message);
    nb::object origin = take_origin(message);
    try {
      object_of(consumer_).attr(method)(origin);
    } catch (const nb::python_error& e) {
      rethrow_broker_error(e, std::string(method == std::string("ack") ? "Acking" : "Nacking") +
                                  " a message of queue '" + queue_name_ + "'");
    }
  }

  // The Python MessageProxy the consumer delivered `message` as; the
  // consumer forgets it (it is settled once).
  nb::object take_origin(MessageProxy& message) {
    ForeignPtr origin;
    {
      std::lock_guard lock(mutex_);
      auto it = origins_.find(&message);
      if (it != origins_.end()) {
        origin = std::move(it->second);
        origins_.erase(it);
      }
    }
    return origin ? object_of(origin) : proxy_view(message);
  }

  ForeignPtr consumer_;
  ForeignPtr iterator_;
  std::string queue_name_;
  std::mutex mutex_;
  // Deliveries not yet settled -> the Python proxies they were delivered as.
  std::unordered_map<const MessageProxy*, ForeignPtr> origins_;
};

}  // namespace

std::shared_ptr<MessageProxy> delivery_of(nb::handle proxy) {
  nb::object native = nb::getattr(proxy, "_native", nb::none());
  if (!native.is_none() && nb::isinstance<MessageProxy>(native)) return nb::cast<std::shared_ptr<MessageProxy>>(native);
  nb::object message = nb::getattr(proxy, "_message", nb::none());
  auto delivery = std::make_shared<MessageProxy>(message_from_python(message.is_none() ? nb::borrow(proxy) : message));
  PyConsumer::adopt(proxy, delivery);
  return delivery;
}

void rethrow_broker_error(const nb::python_error& error, const std::string& doing) {
  nb::handle exception = error.value();
  std::string text;
  try {
    text = nb::cast<std::string>(nb::str(exception));
  } catch (...) {
    PyErr_Clear();
  }
  if (is_connection_error(exception)) {
    throw ConnectionClosed(doing + ": " + text);
  }
  Failure failure = failure_from_python(error);
  throw std::runtime_error(doing + " failed:\n" + failure.traceback);
}

PyBroker::PyBroker(nb::handle broker)
    : broker_ref_(nb::module_::import_("weakref").attr("ref")(broker)),
      logger_name_("dramatiq.broker." + nb::cast<std::string>(nb::getattr(broker.type(), "__name__"))) {}

PyBroker::~PyBroker() {
  if (!Py_IsInitialized()) {
    broker_ref_.release();
    return;
  }
  nb::gil_scoped_acquire gil;
  broker_ref_.reset();
}

nb::object PyBroker::broker() const {
  nb::object broker = broker_ref_();
  if (broker.is_none()) throw BrokerError("the Python broker was garbage-collected");
  return broker;
}

std::unique_ptr<Consumer> PyBroker::consume(const std::string& queue_name, int prefetch) {
  // Upstream's Consumer default timeout.
  return consume_for_worker(queue_name, prefetch, std::chrono::milliseconds(30000));
}

std::unique_ptr<Consumer> PyBroker::consume_for_worker(const std::string& queue_name, int prefetch,
                                                       std::chrono::milliseconds idle_timeout) {
  nb::gil_scoped_acquire gil;
  nb::object consumer;
  try {
    // Keyword arguments, as upstream's worker passes them.
    consumer = broker().attr("consume")(nb::arg("queue_name") = queue_name, nb::arg("prefetch") = prefetch,
                                        nb::arg("timeout") = idle_timeout.count());
  } catch (const nb::python_error& e) {
    rethrow_broker_error(e, "Opening a consumer of queue '" + queue_name + "'");
  }
  return std::make_unique<PyConsumer>(std::move(consumer), queue_name);
}

void PyBroker::declare_queue(const std::string& queue_name) {
  nb::gil_scoped_acquire gil;
  try {
    broker().attr("declare_queue")(queue_name);
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

std::set<std::string> PyBroker::names_from(const char* method) const {
  nb::gil_scoped_acquire gil;
  try {
    std::set<std::string> names;
    for (nb::handle name : broker().attr(method)()) names.insert(nb::cast<std::string>(name));
    return names;
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

std::set<std::string> PyBroker::get_declared_queues() const { return names_from("get_declared_queues"); }

std::set<std::string> PyBroker::get_declared_delay_queues() const {
  return names_from("get_declared_delay_queues");
}

Message enqueue_in_python(nb::handle broker, Message message, Delay delay) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object py_delay = delay ? nb::object(nb::int_(*delay)) : nb::none();
    nb::object stored = broker.attr("enqueue")(message_to_python(message), nb::arg("delay") = py_delay);
    return stored.is_none() ? message : message_from_python(stored);
  } catch (const nb::python_error& e) {
    if (is_connection_error(e.value())) {
      rethrow_broker_error(e, "Enqueueing message " + message.message_id);
    }
    // The caller (Python code, or a middleware that logs it) sees the
    // Python exception itself.
    throw HostException(failure_from_python(e));
  }
}

Message PyBroker::enqueue(Message message, Delay delay) {
  // Retries, callbacks, pipelines and the worker (a delayed message coming
  // due) enqueue through the Python broker's own enqueue, hooks and all.
  nb::gil_scoped_acquire gil;
  return enqueue_in_python(broker(), std::move(message), delay);
}

std::vector<Message> PyBroker::enqueue_all(std::vector<Message> messages, Delay delay) {
  std::vector<Message> stored;
  stored.reserve(messages.size());
  for (auto& message : messages) stored.push_back(enqueue(std::move(message), delay));
  return stored;
}

void PyBroker::flush(const std::string& queue_name) {
  nb::gil_scoped_acquire gil;
  try {
    broker().attr("flush")(queue_name);
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

void PyBroker::flush_all() {
  nb::gil_scoped_acquire gil;
  try {
    broker().attr("flush_all")();
  } catch (const nb::python_error& e) {
    throw HostException(failure_from_python(e));
  }
}

void PyBroker::close() {
  // Called by the Python broker's close(), never the other way round.
}

std::size_t PyBroker::count_unfinished(const std::string& /*queue_name*/) {
  throw BrokerError("a broker written in Python joins its queues with its own join()");
}

}  // namespace dramatiq::python
