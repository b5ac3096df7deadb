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
#include "dramatiq/cancellation.hpp"
#include "dramatiq/consumer.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/middleware.hpp"
#include "dramatiq/worker_record.hpp"

namespace dramatiq {

// What sets one broker apart from another, for the layers above it. A
// broker states its traits once, at construction.
struct BrokerTraits {
  // Messages are handed over inside this process, one at a time (the stub
  // broker): a worker thread that runs out of work busy-waits a few
  // microseconds for the next one instead of sleeping. A network broker
  // delivers in batches a round trip apart, and a spinning thread would
  // take a core from its server.
  bool hands_over_in_process = false;
  // add_middleware replays delay queues through after_declare_queue too
  // (upstream's StubBroker counts them among its queues).
  bool lists_delay_queues_as_queues = false;
  // The broker keeps delayed messages itself until they are due (e.g. a
  // due-time column) instead of a "<queue>.DQ" queue that workers consume:
  // a delayed message keeps its queue_name, carries options.eta, and is
  // delivered only once due. No delay queues are declared. Brokers whose
  // server is shared with upstream Dramatiq keep upstream's ".DQ" queues.
  bool schedules_delays = false;
};

// How Broker::join waits.
struct JoinOptions {
  std::optional<std::chrono::milliseconds> timeout;  // unset: wait as long as it takes
  // Once finished, hand back a message of the queue that was dead-lettered
  // (brokers that keep dead letters in reach: the stub).
  bool fail_fast = false;
  // How often a broker that cannot be told of settlements counts again.
  std::chrono::milliseconds poll_interval{100};
};

// The base of every broker. A concrete broker supplies storage and
// transport (the do_* primitives, consume, counting for join); hooks,
// delays, queue declaration and joining live here, once.
// Messages of one queue by state, as its broker's server holds them (what
// a dashboard shows). A state the broker cannot see is unset.
struct QueueCounts {
  std::int64_t ready = 0;                 // waiting for a worker, due
  std::int64_t delayed = 0;               // waiting for their eta
  std::optional<std::int64_t> in_flight;  // taken by a worker, not yet settled
  std::int64_t dead = 0;                  // dead-lettered
};

// A dead-lettered message as its broker keeps it (what a dashboard lists).
struct StoredDeadLetter {
  std::string id;  // the broker's name for it: what requeue and delete take
  std::optional<std::string> message_id;  // when the broker keeps it apart from the body
  std::optional<std::int64_t> dead_at_ms;
  std::string data;  // the encoded message
  // Why it was dead-lettered, when the broker kept what the worker said.
  std::optional<std::string> failure_type;
  std::optional<std::string> failure_message;
  std::optional<std::string> traceback;
};

// A message waiting on a queue, as its broker holds it (what a dashboard lists).
struct StoredMessage {
  std::string data;      // the encoded message
  bool delayed = false;  // on the delay queue, waiting for its eta
};

class Broker {
 public:
  explicit Broker(BrokerTraits traits = {}) : traits_(traits) {}
  virtual ~Broker() = default;
  const BrokerTraits& traits() const { return traits_; }

  // ---- middleware
  using MiddlewareList = std::vector<std::shared_ptr<Middleware>>;
  // A snapshot of the middleware list. Adding middleware replaces the list
  // (copy on write), so threads emitting hooks never see it change under them.
  std::shared_ptr<const MiddlewareList> middleware() const { return middleware_.load(); }
  // Inserts at `index` (appends when out of range) and replays declared
  // actors and queues to it, as upstream does.
  void add_middleware(std::shared_ptr<Middleware> middleware,
                      std::optional<std::size_t> index = std::nullopt);
  // Replaces the whole list (a host language reassigning it); nothing is
  // replayed, as upstream's plain list assignment replays nothing.
  void set_middleware(MiddlewareList middleware);
  std::set<std::string> actor_options() const;

  // ---- actors and queues
  void declare_actor(std::shared_ptr<Actor> actor);
  std::shared_ptr<Actor> get_actor(const std::string& actor_name) const;  // throws ActorNotFound
  std::shared_ptr<Actor> find_actor(const std::string& actor_name) const;  // nullptr if unknown
  // The actor of a delivered message: the one resolved at delivery, or
  // looked up by name (throws ActorNotFound).
  std::shared_ptr<Actor> actor_of(const MessageProxy& message) const {
    return message.actor ? message.actor : get_actor(message.message.actor_name);
  }
  std::vector<std::string> get_declared_actors() const;
  // Virtual only for adapters of brokers written in a host language
  // (Python), which keep their own queues and run these hooks themselves.
  virtual void declare_queue(const std::string& queue_name);
  virtual std::set<std::string> get_declared_queues() const;
  virtual std::set<std::string> get_declared_delay_queues() const;

  // ---- producing
  // Runs the enqueue hooks and stores the message; returns what was stored
  // (a copy bound for the delay queue when delayed). Without an explicit
  // delay, a numeric "delay" option is taken (and removed) as the delay.
  // Undeclared queues are declared on demand.
  // Enqueues the engine makes itself (retries, callbacks, pipelines, a
  // delayed message coming due) go through the host enqueue when one is
  // set. (Virtual for host-language broker adapters, whose enqueue runs the
  // hooks itself; a broker in C++ implements do_enqueue instead.)
  virtual Message enqueue(Message message, Delay delay = std::nullopt);
  // This broker's own enqueue, whatever host enqueue is set.
  Message enqueue_here(Message message, Delay delay = std::nullopt);
  // The storage step of an enqueue when something other than do_enqueue
  // writes the message (a consumer that stores a due delayed message and
  // acks its delay-queue copy in one write: Consumer::enqueue_and_ack).
  using StoreStep = std::function<void(const Message&)>;
  // enqueue_here() with `store` in place of do_enqueue: the same
  // preparation and hooks. Not for a broker with a host enqueue (every
  // enqueue has to go through that one): see has_host_enqueue().
  Message enqueue_stored_by(Message message, const StoreStep& store);
  // A host-language subclass's own enqueue (Python code that overrides
  // Broker.enqueue on a built-in broker, as dramatiq-eager-broker does),
  // which enqueue() then calls; empty: none.
  using HostEnqueue = std::function<Message(Message, Delay)>;
  void set_host_enqueue(HostEnqueue host_enqueue);
  bool has_host_enqueue() const { return host_enqueue_.load() != nullptr; }
  // Enqueues several messages as one batch (one round trip on network
  // brokers), each through the same hooks as enqueue(). Returns what was
  // stored, in order. If a before_enqueue hook raises, the messages before
  // that one are stored and the error propagates.
  virtual std::vector<Message> enqueue_all(std::vector<Message> messages, Delay delay = std::nullopt);

  // ---- periodic ticks (src/schedule/scheduler.hpp)
  // Enqueues `message` as tick `tick_ms` of the schedule `schedule_name`
  // unless a scheduler sharing this broker (in any process, on any host)
  // already enqueued that tick or a later one of it: true if this call
  // enqueued it. The check and the enqueue are one step on the broker, so
  // of schedulers racing for a tick exactly one enqueues it. The enqueue
  // hooks run as for enqueue() (after_enqueue only for a tick enqueued).
  bool enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, Message message);
  // The last tick of `schedule_name` that a scheduler enqueued, if any.
  virtual std::optional<std::int64_t> last_tick(const std::string& /*schedule_name*/) { return std::nullopt; }
  // Whether this broker can enqueue ticks (do_enqueue_tick).
  virtual bool supports_ticks() const { return false; }

  // ---- consuming
  // A consumer of one queue for a worker, holding up to `prefetch` messages
  // delivered and not yet settled.
  virtual std::unique_ptr<Consumer> consume(const std::string& queue_name, int prefetch) = 0;
  // What a worker calls: consume() for a worker whose consumers wait up to
  // `idle_timeout` for a message. Brokers whose consumers take that wait
  // once, when they are made (upstream's Python consumers), override it.
  virtual std::unique_ptr<Consumer> consume_for_worker(const std::string& queue_name, int prefetch,
                                                       std::chrono::milliseconds /*idle_timeout*/) {
    return consume(queue_name, prefetch);
  }
  // Drops the messages waiting on exactly this queue (not its delay queue).
  virtual void flush(const std::string& queue_name) = 0;
  virtual void flush_all() = 0;
  virtual void close() {}

  // Waits until `queue_name` and its delayed messages hold nothing waiting,
  // delayed or delivered-and-unsettled. Returns false on timeout. With
  // fail_fast, a message of the queue that was dead-lettered is handed back
  // in `first_dead_letter`.
  bool join(const std::string& queue_name, const JoinOptions& options = {},
            std::shared_ptr<MessageProxy>* first_dead_letter = nullptr);

  // Whether any middleware keeps actors' return values (upstream warns
  // when a value is returned and none does).
  bool keeps_results() const { return keeps_results_.load(std::memory_order_relaxed); }

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

  // For join(): how many messages of `queue_name` (canonical) and its delay
  // queue are waiting, delayed, or delivered and not yet settled. May throw
  // QueueNotFound (the stub does, as upstream's).
  virtual std::size_t count_unfinished(const std::string& queue_name) = 0;
  // For join(): returns when count_unfinished may have changed, or at
  // `deadline`. The default sleeps for `poll_interval` (capped at the
  // deadline); brokers that learn of settlements override it.
  virtual void wait_for_settlement(const std::string& queue_name,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::chrono::milliseconds poll_interval);
  // For join() with fail_fast: the first message of `queue_name` that was
  // dead-lettered, when the broker keeps dead letters in reach.
  virtual std::shared_ptr<MessageProxy> first_dead_letter(const std::string& /*queue_name*/) {
    return nullptr;
  }

  // Storage primitives of a concrete broker.
  virtual void do_declare_queue(const std::string& queue_name) = 0;
  virtual void do_enqueue(const std::string& queue_name, const Message& message) = 0;
  // Stores each message on its queue_name; brokers that can batch override.
  virtual void do_enqueue_all(const std::vector<Message>& messages);
  // enqueue_tick's storage step: stores `message` and records `tick_ms` as
  // the schedule's last tick, in one step, if `tick_ms` is later than the
  // last tick recorded; false (and nothing stored) if it is not. The
  // default throws std::logic_error (the broker has no such step yet).
  virtual bool do_enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, const Message& message);
  // Records the cancellation (until `expires_ms`) and notifies watchers.
  virtual void do_cancel(const std::string& message_id, std::int64_t expires_ms);
  // Adds broker-specific options to a message about to be enqueued (before
  // any delay is applied), e.g. Redis's per-enqueue message id.
  virtual void stamp_message(Message& /*message*/) {}

  void log_hook_failure(const char* signal, const Middleware& m, std::exception_ptr error) const;

 public:
  // ---- cancellation (dramatiq/cancellation.hpp)
  // Records that `message_id` is cancelled, for `ttl`, and tells every
  // worker watching. Throws std::logic_error on a broker without support.
  void cancel(const std::string& message_id, std::chrono::milliseconds ttl = kDefaultCancellationTtl);
  virtual bool supports_cancellation() const { return false; }
  // Starts watching: `callback` gets the cancellations in force now and
  // every new one, from a thread of the broker's, until the watch is
  // destroyed (nullptr on a broker without support).
  virtual std::unique_ptr<CancellationWatch> watch_cancellations(CancellationCallback callback);

  // ---- inspection
  // Counts of `queue_name` (canonical; its delay queue's messages count as
  // delayed) by state. Throws std::logic_error on a broker that cannot.
  virtual QueueCounts queue_counts(const std::string& queue_name);
  // The dead letters of `queue_name` (canonical), oldest first, at most
  // `limit`. Throws std::logic_error on a broker that cannot list them.
  virtual std::vector<StoredDeadLetter> list_dead_letters(const std::string& queue_name, std::size_t limit);
  // Puts dead letters of `queue_name` back on it, to run again (all of
  // them when `ids` is empty); an id that names none of them is passed
  // over. Returns how many went back. Throws std::logic_error on a broker
  // that cannot.
  virtual std::size_t requeue_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids);
  // Drops dead letters of `queue_name` (all of them when `ids` is empty);
  // returns how many. Throws std::logic_error on a broker that cannot.
  virtual std::size_t delete_dead_letters(const std::string& queue_name, const std::vector<std::string>& ids);

  // Messages of `queue_name` (canonical) waiting for a worker: the ready
  // ones in the order they will be taken, then the delayed ones, at most
  // `limit` in all. Throws std::logic_error on a broker that cannot list them.
  virtual std::vector<StoredMessage> list_messages(const std::string& queue_name, std::size_t limit);

  // ---- worker records (dramatiq/worker_record.hpp)
  // Whether workers' records are kept (put_worker_record does something).
  virtual bool keeps_worker_records() const { return false; }
  // Stores (or replaces) a running worker's record until its expires_at_ms.
  // The base keeps nothing.
  virtual void put_worker_record(const WorkerRecord& /*record*/) {}
  virtual void remove_worker_record(const std::string& /*worker_id*/) {}
  // The records not yet expired, every process's. Throws std::logic_error
  // on a broker that keeps none.
  virtual std::vector<WorkerRecord> list_worker_records();

 protected:

  // Tells the queue listeners (workers) that `queue_name` was declared; for
  // brokers that override declare_queue.
  void announce_queue(const std::string& queue_name);

 private:
  // Applies the delay (explicit or from the "delay" option), declares the
  // queue on demand and stamps the message. Returns the delay applied.
  Delay prepare_for_enqueue(Message& message, Delay delay);

  const BrokerTraits traits_;
  mutable std::shared_mutex mutex_;
  std::atomic<bool> keeps_results_{false};
  std::atomic<std::shared_ptr<const HostEnqueue>> host_enqueue_;
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
