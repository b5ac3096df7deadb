// The middleware that ships with dramatiq, implemented in the engine.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "dramatiq/interrupt.hpp"
#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Sends a message to `actor` with positional `args`, through the usual
// enqueue hooks (what `actor.send(*args)` does).
Message send_to_actor(Broker& broker, const Actor& actor, Array args);

// Option lookup in upstream's order: the message's option when truthy, else
// the actor's option when present, else `fallback`.
Value message_or_actor_option(const MessageProxy& message, const Actor& actor,
                              std::string_view name, Value fallback);

// Skips messages older than max_age ms.
class AgeLimit : public Middleware {
 public:
  explicit AgeLimit(Value max_age = Value()) : max_age(std::move(max_age)) {}
  std::string name() const override { return "AgeLimit"; }
  std::vector<std::string> actor_options() const override { return {"max_age"}; }
  void before_process_message(Broker&, MessageProxy&) override;
  Value max_age;
};

// Interrupts actors running longer than time_limit ms.
class TimeLimit : public Middleware {
 public:
  explicit TimeLimit(Value time_limit = Value(std::int64_t{600000}), std::int64_t interval = 1000);
  ~TimeLimit() override;
  std::string name() const override { return "TimeLimit"; }
  std::vector<std::string> actor_options() const override { return {"time_limit"}; }
  void after_process_boot(Broker&) override { start_monitor(); }
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;
  Value time_limit;
  std::int64_t interval;

 private:
  void start_monitor();
  void monitor();
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread monitor_;
  std::map<ThreadId, std::chrono::steady_clock::time_point> deadlines_;
};

// Interrupts actors that asked for it (notify_shutdown) when the worker stops.
class ShutdownNotifications : public Middleware {
 public:
  explicit ShutdownNotifications(bool notify_shutdown = false) : notify_shutdown(notify_shutdown) {}
  std::string name() const override { return "ShutdownNotifications"; }
  std::vector<std::string> actor_options() const override { return {"notify_shutdown"}; }
  void before_worker_shutdown(Broker&, Worker&) override;
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;
  bool notify_shutdown;

 private:
  std::mutex mutex_;
  std::map<ThreadId, bool> running_;
};

// Sends on_success / on_failure callback messages.
class Callbacks : public Middleware {
 public:
  std::string name() const override { return "Callbacks"; }
  std::vector<std::string> actor_options() const override { return {"on_failure", "on_success"}; }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
};

// Enqueues the next message of a pipeline (pipe_target), feeding it the result.
class Pipelines : public Middleware {
 public:
  std::string name() const override { return "Pipelines"; }
  std::vector<std::string> actor_options() const override { return {"pipe_ignore", "pipe_target"}; }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
};

// Retries failed messages with exponential backoff and jitter.
class Retries : public Middleware {
 public:
  static constexpr std::int64_t kDefaultMaxRetries = 20;
  static constexpr std::int64_t kDefaultMinBackoff = 15000;
  static constexpr std::int64_t kDefaultMaxBackoff = 86400000LL * 7;
  Retries(Value max_retries = Value(kDefaultMaxRetries), std::int64_t min_backoff = kDefaultMinBackoff,
          std::int64_t max_backoff = kDefaultMaxBackoff, Value retry_when = Value())
      : max_retries(std::move(max_retries)), min_backoff(min_backoff), max_backoff(max_backoff),
        retry_when(std::move(retry_when)) {}
  std::string name() const override { return "Retries"; }
  std::vector<std::string> actor_options() const override {
    return {"max_retries", "min_backoff", "max_backoff", "retry_when", "throws", "on_retry_exhausted"};
  }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  Value max_retries;  // Int, or Null for unlimited
  std::int64_t min_backoff;
  std::int64_t max_backoff;
  Value retry_when;  // a host callable (retries, exception) -> bool, or Null
};

// Exponential backoff with jitter: (factor * 2**attempts) * U(1, 2), brought
// back into [max/2, max] when it exceeds max_backoff.
std::int64_t compute_backoff(std::int64_t attempts, std::int64_t factor, std::int64_t max_backoff);

// Makes the message being processed available to the code running it.
class CurrentMessage : public Middleware {
 public:
  std::string name() const override { return "CurrentMessage"; }
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;
  // The message this thread is processing, or nullptr: this_message::get(),
  // which the worker publishes whether or not this middleware is there.
  static MessageProxy* current();
};

}  // namespace dramatiq
