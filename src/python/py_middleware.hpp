// A Python dramatiq.Middleware subclass seen by the engine as a Middleware:
// only the hooks that class overrides are called, each with the GIL held
// and with upstream's arguments.
#pragma once

#include <bitset>

#include "dramatiq/middleware.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

enum class Hook {
  before_ack, after_ack, before_nack, after_nack, before_declare_actor, after_declare_actor,
  before_declare_queue, after_declare_queue, after_declare_delay_queue, before_enqueue,
  after_enqueue, before_delay_message, before_process_message, after_process_message,
  after_skip_message, after_process_boot, before_process_stop, after_process_stop,
  before_worker_boot, after_worker_boot, before_worker_shutdown, after_worker_shutdown,
  after_consumer_thread_boot, before_consumer_thread_shutdown, after_worker_thread_boot,
  before_worker_thread_shutdown, count
};

// Hook names in enum order (for lookups by name).
const char* hook_name(Hook hook);

class PyMiddleware : public Middleware {
 public:
  // `hooks`: the names of the hooks the Python class overrides.
  // `broker`: a weak reference (callable) to the Python broker.
  PyMiddleware(nb::object middleware, const std::vector<std::string>& hooks, nb::object broker);
  ~PyMiddleware() override;

  std::string name() const override { return name_; }
  std::vector<std::string> actor_options() const override;
  const nb::object& object() const { return middleware_; }

  void before_ack(Broker&, MessageProxy& m) override { proxy_hook(Hook::before_ack, m); }
  void after_ack(Broker&, MessageProxy& m) override { proxy_hook(Hook::after_ack, m); }
  void before_nack(Broker&, MessageProxy& m) override { proxy_hook(Hook::before_nack, m); }
  void after_nack(Broker&, MessageProxy& m) override { proxy_hook(Hook::after_nack, m); }
  void before_declare_actor(Broker&, Actor& a) override { actor_hook(Hook::before_declare_actor, a); }
  void after_declare_actor(Broker&, Actor& a) override { actor_hook(Hook::after_declare_actor, a); }
  void before_declare_queue(Broker&, const std::string& q) override { queue_hook(Hook::before_declare_queue, q); }
  void after_declare_queue(Broker&, const std::string& q) override { queue_hook(Hook::after_declare_queue, q); }
  void after_declare_delay_queue(Broker&, const std::string& q) override { queue_hook(Hook::after_declare_delay_queue, q); }
  void before_enqueue(Broker&, Message& m, Delay d) override { enqueue_hook(Hook::before_enqueue, m, d); }
  void after_enqueue(Broker&, Message& m, Delay d) override { enqueue_hook(Hook::after_enqueue, m, d); }
  void before_delay_message(Broker&, MessageProxy& m) override { proxy_hook(Hook::before_delay_message, m); }
  void before_process_message(Broker&, MessageProxy& m) override { proxy_hook(Hook::before_process_message, m); }
  void after_process_message(Broker&, MessageProxy& m, const Value* result, const Failure* failure) override;
  void after_skip_message(Broker&, MessageProxy& m) override { proxy_hook(Hook::after_skip_message, m); }
  void after_process_boot(Broker&) override { plain_hook(Hook::after_process_boot); }
  void before_process_stop(Broker&) override { plain_hook(Hook::before_process_stop); }
  void after_process_stop(Broker&) override { plain_hook(Hook::after_process_stop); }
  void before_worker_boot(Broker&, Worker& w) override { worker_hook(Hook::before_worker_boot, w); }
  void after_worker_boot(Broker&, Worker& w) override { worker_hook(Hook::after_worker_boot, w); }
  void before_worker_shutdown(Broker&, Worker& w) override { worker_hook(Hook::before_worker_shutdown, w); }
  void after_worker_shutdown(Broker&, Worker& w) override { worker_hook(Hook::after_worker_shutdown, w); }
  void after_consumer_thread_boot(Broker&, const ThreadInfo& t) override { thread_hook(Hook::after_consumer_thread_boot, t); }
  void before_consumer_thread_shutdown(Broker&, const ThreadInfo& t) override { thread_hook(Hook::before_consumer_thread_shutdown, t); }
  void after_worker_thread_boot(Broker&, const ThreadInfo& t) override { thread_hook(Hook::after_worker_thread_boot, t); }
  void before_worker_thread_shutdown(Broker&, const ThreadInfo& t) override { thread_hook(Hook::before_worker_thread_shutdown, t); }

 private:
  bool has(Hook hook) const { return hooks_.test(static_cast<std::size_t>(hook)); }
  nb::object method(Hook hook) const;
  nb::object broker() const;
  void proxy_hook(Hook hook, MessageProxy& message);
  void actor_hook(Hook hook, Actor& actor);
  void queue_hook(Hook hook, const std::string& queue_name);
  void enqueue_hook(Hook hook, Message& message, Delay delay);
  void plain_hook(Hook hook);
  void worker_hook(Hook hook, Worker& worker);
  void thread_hook(Hook hook, const ThreadInfo& info);

  nb::object middleware_;
  nb::object broker_ref_;
  std::bitset<static_cast<std::size_t>(Hook::count)> hooks_;
  std::string name_;
};

}  // namespace dramatiq::python
