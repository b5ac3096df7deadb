// Brokers written in Python, both ways round.
//
// PyBroker: a dramatiq.Broker subclass that implements consume, declare_queue,
// enqueue, flush... itself (as upstream's brokers and third-party ones such
// as dramatiq-postgres do) seen by the engine as a Broker, so the engine's
// Worker, its middleware (built-in and Python), results and retries run it
// unchanged. Every call into it takes the GIL; its consumer's __next__ is
// called by the engine's consumer thread, which waits in it (without the GIL
// when the consumer blocks in I/O, as queue.get and database drivers do).
//
// NativeConsumer (bound in module.cpp): the other way, an engine broker's
// Consumer driven from Python (`broker.consume()` on our built-in brokers).
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

class PyBroker : public Broker {
 public:
  // `broker`: the Python broker object (held through a weak reference: the
  // Python broker owns this adapter).
  explicit PyBroker(nb::handle broker);
  ~PyBroker() override;

  std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) override;
  std::unique_ptr<Consumer> consume_for_worker(const std::string& queue_name, int prefetch,
                                               std::chrono::milliseconds idle_timeout) override;
  void declare_queue(const std::string& queue_name) override;
  std::set<std::string> get_declared_queues() const override;
  std::set<std::string> get_declared_delay_queues() const override;
  Message enqueue(Message message, Delay delay = std::nullopt) override;
  std::vector<Message> enqueue_all(std::vector<Message> messages, Delay delay = std::nullopt) override;
  void flush(const std::string& queue_name) override;
  void flush_all() override;
  void close() override;

  // The Python broker emitted after_declare_queue: running workers start
  // consuming it.
  using Broker::announce_queue;

 protected:
  const char* logger_name() const override { return logger_name_.c_str(); }
  // The Python broker's join() is its own; the engine never joins it.
  std::size_t count_unfinished(const std::string& queue_name) override;
  // Not reached: declare_queue and enqueue are the Python broker's.
  void do_declare_queue(const std::string& /*queue_name*/) override {}
  void do_enqueue(const std::string& /*queue_name*/, const Message& /*message*/) override {}

 private:
  nb::object broker() const;
  std::set<std::string> names_from(const char* method) const;

  nb::object broker_ref_;
  std::string logger_name_;
};

// A Python MessageProxy as the engine's delivery: the same MessageProxy
// when Python already handed it to the engine (its `_native`), else a new
// one whose Python view is `proxy` itself.
std::shared_ptr<MessageProxy> delivery_of(nb::handle proxy);

// Calls `broker.enqueue(message, delay=delay)` of a Python broker (takes the
// GIL); returns the message it stored.
Message enqueue_in_python(nb::handle broker, Message message, Delay delay);

// Whether a Python exception means a broken connection: dramatiq's
// ConnectionError and its subclasses, and pika's connection and channel
// errors (upstream's brokers and tests raise those).
bool is_connection_error(nb::handle exception);

// Throws the engine error for the Python exception being handled:
// dramatiq's ConnectionError subclasses (and pika's connection and channel
// errors) as ConnectionClosed, anything else as a runtime_error carrying
// the traceback (for the logs).
[[noreturn]] void rethrow_broker_error(const nb::python_error& error, const std::string& doing);

}  // namespace dramatiq::python
