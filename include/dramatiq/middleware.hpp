// Middleware: hook objects the broker and worker call around every step,
// with upstream Dramatiq's hook names, arguments and order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/actor.hpp"
#include "dramatiq/message_proxy.hpp"

namespace dramatiq {

class Broker;
class Worker;

// Identifies the engine thread a consumer/worker-thread hook is about.
struct ThreadInfo {
  enum class Kind { Consumer, Worker } kind;
  std::string queue_name;  // consumers only
};

using Delay = std::optional<std::int64_t>;

class Middleware {
 public:
  virtual ~Middleware() = default;
  virtual std::string name() const = 0;
  // Option names this middleware lets actors declare.
  virtual std::vector<std::string> actor_options() const { return {}; }
  // Whether this middleware keeps actors' return values (Results does):
  // when none does, the worker warns that a returned value is discarded.
  virtual bool keeps_results() const { return false; }

  virtual void before_ack(Broker&, MessageProxy&) {}
  virtual void after_ack(Broker&, MessageProxy&) {}
  virtual void before_nack(Broker&, MessageProxy&) {}
  virtual void after_nack(Broker&, MessageProxy&) {}
  virtual void before_declare_actor(Broker&, Actor&) {}
  virtual void after_declare_actor(Broker&, Actor&) {}
  virtual void before_declare_queue(Broker&, const std::string&) {}
  virtual void after_declare_queue(Broker&, const std::string&) {}
  virtual void after_declare_delay_queue(Broker&, const std::string&) {}
  virtual void before_enqueue(Broker&, Message&, Delay) {}
  virtual void after_enqueue(Broker&, Message&, Delay) {}
  virtual void before_delay_message(Broker&, MessageProxy&) {}
  virtual void before_process_message(Broker&, MessageProxy&) {}
  // Exactly one of result/failure is non-null.
  virtual void after_process_message(Broker&, MessageProxy&, const Value* /*result*/,
                                     const Failure* /*failure*/) {}
  virtual void after_skip_message(Broker&, MessageProxy&) {}
  virtual void after_process_boot(Broker&) {}
  virtual void before_process_stop(Broker&) {}
  virtual void after_process_stop(Broker&) {}
  virtual void before_worker_boot(Broker&, Worker&) {}
  virtual void after_worker_boot(Broker&, Worker&) {}
  virtual void before_worker_shutdown(Broker&, Worker&) {}
  virtual void after_worker_shutdown(Broker&, Worker&) {}
  virtual void after_consumer_thread_boot(Broker&, const ThreadInfo&) {}
  virtual void before_consumer_thread_shutdown(Broker&, const ThreadInfo&) {}
  virtual void after_worker_thread_boot(Broker&, const ThreadInfo&) {}
  virtual void before_worker_thread_shutdown(Broker&, const ThreadInfo&) {}
};

}  // namespace dramatiq
