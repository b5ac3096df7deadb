// The broker interface: queues, actors, middleware, enqueue and consume.
// Concrete brokers (stub, redis, ...) implement the storage primitives; the
// hook sequence around them lives here, once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "dramatiq/actor.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Pulls messages off one queue for a worker. Methods other than next() may
// be called from any thread.
class Consumer {
 public:
  virtual ~Consumer() = default;
  // The next delivered message, or nullptr when none arrived within
  // `timeout`. Undecodable deliveries come back with decode_error set.
  virtual std::shared_ptr<MessageProxy> next(std::chrono::milliseconds timeout) = 0;
  // Whether next() would return a message already fetched, without waiting.
  virtual bool has_buffered() const { return false; }
  virtual void ack(MessageProxy& message) = 0;
  // Rejects the message: it goes to the dead-letter queue.
  virtual void nack(MessageProxy& message) = 0;
  // Puts fetched-but-unprocessed messages back on their queue.
  virtual void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) = 0;
  virtual void close() {}
};

class Broker {
 public:
  virtual ~Broker() = default;

  // ---- middleware
  using MiddlewareList = std::vector<std::shared_ptr<Middleware>>;
  // A snapshot of the middleware list. Adding middleware replaces the list
  // (copy on write), so threads emitting hooks never see it change under them.
  std::shared_ptr<const MiddlewareList> middleware() const { return middleware_.load(); }
  // Inserts at `index` (appends when out of range) and replays declared
  // actors and queues to it, as upstream does.
  void add_middleware(std::shared_ptr<Middleware> middleware,
                      std::optional<std::size_t> index = std::nullopt);
  std::set<std::string> actor_options() const;

  // ---- actors and queues
  void declare_actor(std::shared_ptr<Actor> actor);
  std::shared_ptr<Actor> get_actor(const std::string& actor_name) const;  // throws ActorNotFound
  std::shared_ptr<Actor> find_actor(const std::string& actor_name) const;  // nullptr if unknown
  std::vector<std::string> get_declared_actors() const;
  void declare_queue(const std::string& queue_name);
  std::set<std::string> get_declared_queues() const;
  std::set<std::string> get_declared_delay_queues() const;

  // ---- producing
  // Runs the enqueue hooks and stores the message; returns what was stored
  // (a copy bound for the delay queue when delayed). Without an explicit
  // delay, a numeric "delay" option is taken (and removed) as the delay.
  // Undeclared queues are declared on demand.
  Message enqueue(Message message, Delay delay = std::nullopt);
  // Enqueues several messages as one batch (one round trip on network
  // brokers), each through the same hooks as enqueue(). Returns what was
  // stored, in order. If a before_enqueue hook raises, the messages before
  // that one are stored and the error propagates.
  std::vector<Message> enqueue_all(std::vector<Message> messages, Delay delay = std::nullopt);

  // ---- consuming
  virtual std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch,
                                            std::chrono::milliseconds timeout) = 0;
  // Drops the messages waiting on exactly this queue (not its delay queue).
  virtual void flush(const std::string& queue_name) = 0;
  virtual void flush_all() = 0;
  virtual void close() {}

  // Whether a worker thread that runs out of work should busy-wait a few
  // microseconds for the next message instead of sleeping at once. That
  // pays off when messages are handed over in process, one at a time (the
  // stub broker); a network broker delivers in batches a round trip apart,
  // and a spinning thread would take a core from the broker server.
  virtual bool worth_spinning_for_work() const { return false; }

  // ---- hook emission (upstream semantics: before_* in order, a
  // MiddlewareError propagates and anything else is logged; after_* in
  // reverse order, every exception logged).
  template <typename Hook>
  void emit_before(const char* signal, Hook&& hook);
  template <typename Hook>
  void emit_after(const char* signal, Hook&& hook);

  // Called with every newly declared queue name (workers subscribe).
  using QueueListener = std::function<void(const std::string& queue_name)>;
  std::size_t add_queue_listener(QueueListener listener);
  void remove_queue_listener(std::size_t id);

 protected:
  // The logger the broker reports hook failures on (upstream: its class's).
  virtual const char* logger_name() const { return "dramatiq.broker.Broker"; }

  // Whether add_middleware replays delay queues through after_declare_queue
  // too (upstream's StubBroker lists them among its queues).
  virtual bool lists_delay_queues_as_queues() const { return false; }

  // Storage primitives of a concrete broker.
  virtual void do_declare_queue(const std::string& queue_name) = 0;
  virtual void do_enqueue(const std::string& queue_name, const Message& message) = 0;
  // Stores each message on its queue_name; brokers that can batch override.
  virtual void do_enqueue_all(const std::vector<Message>& messages);
  // Adds broker-specific options to a message about to be enqueued (before
  // any delay is applied), e.g. Redis's per-enqueue message id.
  virtual void stamp_message(Message& /*message*/) {}

  void log_hook_failure(const char* signal, const Middleware& m, std::exception_ptr error) const;

 private:
  // Applies the delay (explicit or from the "delay" option), declares the
  // queue on demand and stamps the message. Returns the delay applied.
  Delay prepare_for_enqueue(Message& message, Delay delay);

  mutable std::shared_mutex mutex_;
  std::atomic<std::shared_ptr<const MiddlewareList>> middleware_{std::make_shared<const MiddlewareList>()};
  std::map<std::string, std::shared_ptr<Actor>> actors_;
  std::set<std::string> queues_;
  std::set<std::string> delay_queues_;
  std::map<std::size_t, QueueListener> queue_listeners_;
  std::size_t next_listener_id_ = 0;
};

template <typename Hook>
void Broker::emit_before(const char* signal, Hook&& hook) {
  auto snapshot = middleware_.load();
  for (auto& m : *snapshot) {
    try {
      hook(*m);
    } catch (const MiddlewareError&) {
      throw;
    } catch (...) {
      log_hook_failure(signal, *m, std::current_exception());
    }
  }
}

template <typename Hook>
void Broker::emit_after(const char* signal, Hook&& hook) {
  auto snapshot = middleware_.load();
  for (auto it = snapshot->rbegin(); it != snapshot->rend(); ++it) {
    try {
      hook(**it);
    } catch (...) {
      log_hook_failure(signal, **it, std::current_exception());
    }
  }
}

}  // namespace dramatiq
