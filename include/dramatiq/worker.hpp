// The worker: consumer threads pull messages off every queue into a
// priority work queue; worker threads run them through the middleware and
// the actor, then ack or nack them through the consumer that delivered
// them. The parts are in src/worker/ (see docs/architecture.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dramatiq/broker.hpp"
#include "dramatiq/interrupt.hpp"

namespace dramatiq {

// Upstream's default worker timeout (ms).
inline constexpr int kDefaultWorkerTimeoutMs = 1000;

// How a Worker runs. Settings left unset (nullopt, or 0 for the prefetches)
// are filled in by resolved(), so C++ and Python workers get the same
// defaults and honour the same environment variables as upstream.
struct WorkerOptions {
  std::optional<std::set<std::string>> queues;  // default: every declared queue
  // How long (ms) an idle consumer waits for a message before it checks for
  // shutdown. Unset: $dramatiq_worker_timeout, else kDefaultWorkerTimeoutMs.
  std::optional<int> worker_timeout_ms;
  int worker_threads = 8;
  // Messages each consumer may hold fetched but unsettled; 0 means
  // $dramatiq_queue_prefetch / $dramatiq_delay_queue_prefetch when set and
  // non-zero, else upstream's defaults (2 per worker thread for a queue,
  // 1000 per worker thread for a delay queue, at most 65535).
  int queue_prefetch = 0;
  int delay_prefetch = 0;
  // How long a consumer thread waits before it opens a new consumer after
  // the last one failed (upstream: 3 s).
  int consumer_restart_delay_ms = 3000;

  // A copy with every unset setting filled in. Reads the environment; throws
  // std::invalid_argument when one of those variables is not an integer.
  WorkerOptions resolved() const;
};

// The worker settings in the environment, each nullopt when its variable
// ($dramatiq_worker_timeout, $dramatiq_queue_prefetch,
// $dramatiq_delay_queue_prefetch) is not set. Throws std::invalid_argument
// for a value that is not an integer.
struct WorkerEnvironment {
  std::optional<int> worker_timeout_ms;
  std::optional<int> queue_prefetch;
  std::optional<int> delay_prefetch;
  // $dramatiq_restart_delay: the consumer restart delay (ms) the Python
  // worker takes when none is given (upstream's CONSUMER_RESTART_DELAY).
  std::optional<int> consumer_restart_delay_ms;
};
WorkerEnvironment worker_environment();

// Hooks the host runs on every engine thread it starts (the Python bindings
// attach a thread state so the thread can take the GIL cheaply).
struct ThreadHooks {
  std::function<void()> on_start;
  std::function<void()> on_stop;
  // Called by a worker thread before it waits for work, and between
  // messages at least every kYieldInterval. Actor bodies may keep a host
  // lock across consecutive messages (Python: the GIL, which is costly to
  // hand between threads per message); this is where it is given back.
  std::function<void()> on_yield;
  // When set, a worker thread hands each message to it instead of
  // processing it directly; it must call `process` (once) to have the
  // message processed (hooks, actor, results), and may do its own work
  // around that call. How a host language honours a wrapper its users
  // installed around message processing (Python: a patched
  // dramatiq.worker._WorkerThread.process_message). Settling follows.
  std::function<void(MessageProxy& message, const std::function<void()>& process)> around_message;
};

inline constexpr auto kYieldInterval = std::chrono::milliseconds(5);

class Worker {
 public:
  Worker(std::shared_ptr<Broker> broker, WorkerOptions options, ThreadHooks hooks = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Stops fetching and running new messages; returns once every worker
  // thread finished what it runs and every consumer stopped fetching.
  void pause();
  // pause() in two steps: request_pause() returns at once, wait_paused()
  // waits for what pause() waits for.
  void request_pause();
  void wait_paused();
  // Resumes consuming and every worker thread (those paused one by one too).
  void resume();
  // Waits until the work queue and delay queues are drained.
  void join();
  // join() for at most `timeout`: whether they drained.
  bool join_for(std::chrono::milliseconds timeout);
  // How long stop() lets in-flight work finish by default (upstream's 10 minutes).
  static constexpr std::chrono::milliseconds kDefaultStopTimeout{600000};
  // In-flight work finishes (up to timeout); prefetched messages are requeued.
  void stop(std::chrono::milliseconds timeout = kDefaultStopTimeout);
  // stop(timeout) that asks `keep_waiting` every `poll` while in-flight work
  // finishes (from the calling thread): once it answers false, the stop goes
  // on as if the timeout had passed (a thread still running an actor keeps
  // it and settles its message when done). How a caller lets a signal,
  // such as Ctrl-C in Python, cut the wait short and still stop cleanly.
  void stop(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
            std::chrono::milliseconds poll = std::chrono::milliseconds(50));

  Broker& broker() { return *broker_; }
  int worker_threads() const;
  // The effective settings (see WorkerOptions::resolved).
  int worker_timeout_ms() const;
  int queue_prefetch() const;
  int delay_prefetch() const;
  // Change a prefetch, as upstream's Worker attributes: consumers opened
  // after the change (at start(), or for a queue declared later) hold up to
  // the new number; those already open keep theirs. A prefetch < 1 is
  // std::invalid_argument.
  void set_queue_prefetch(int prefetch);
  void set_delay_prefetch(int prefetch);
  // Pauses one worker thread of a running Worker (by its id, from
  // worker_thread_ids()): it finishes the message it runs and then takes
  // no more until resume_thread() or resume(); the others go on.
  // wait_thread_paused() waits until it has stopped taking work, up to
  // `timeout` (false if it has not by then). Throws std::invalid_argument
  // for an id that is not one of its running threads, std::logic_error when
  // the Worker is not running.
  void pause_thread(ThreadId id);
  void resume_thread(ThreadId id);
  bool wait_thread_paused(ThreadId id, std::chrono::milliseconds timeout);
  // Messages fetched and waiting for a worker thread.
  std::size_t queued_messages() const;
  // The queues (and delay queues) this worker runs a consumer thread for.
  std::vector<std::string> consumed_queues() const;
  // How many messages the consumer thread of `queue_name` has delivered and
  // not yet settled (one whose settlement waits for a retry after a
  // connection error is no longer counted); nullopt when this worker does
  // not consume that queue.
  std::optional<std::size_t> outstanding_messages(const std::string& queue_name) const;
  // Its running worker threads (pthread ids, which are Python's idents).
  std::vector<ThreadId> worker_thread_ids() const;
  // The host-language Worker object passed to worker hooks, if any.
  ForeignPtr host_worker;

  class Impl;

 private:
  std::shared_ptr<Broker> broker_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dramatiq
