#include "dramatiq/worker.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <queue>
#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
constexpr const char* kWorkerLogger = "dramatiq.worker.Worker";
constexpr const char* kConsumerLogger = "dramatiq.worker.ConsumerThread";
constexpr const char* kWorkerThreadLogger = "dramatiq.worker.WorkerThread";
constexpr auto kConsumerRestartDelay = std::chrono::seconds(3);
constexpr auto kPostProcessRetryDelay = std::chrono::seconds(5);
constexpr auto kWorkSpinTime = std::chrono::microseconds(50);
// How long queued work may sit untouched while every awake worker thread is
// busy before sleeping threads join in (see Worker::Impl::wait_for_work).
constexpr auto kStaleWorkCheck = std::chrono::milliseconds(1);

std::string describe(const MessageProxy& proxy) { return proxy.message.describe(); }
std::string quoted(const std::string& s) { return "'" + s + "'"; }
}  // namespace

class ConsumerThread;

// A message waiting for a worker thread, ordered by actor priority, then
// arrival.
struct WorkItem {
  int priority;
  std::uint64_t sequence;
  std::shared_ptr<MessageProxy> message;
  ConsumerThread* consumer;
  bool operator>(const WorkItem& other) const {
    return priority != other.priority ? priority > other.priority : sequence > other.sequence;
  }
};

// A delayed message held by a delay-queue consumer until its eta.
struct DelayedItem {
  std::int64_t eta;
  std::uint64_t sequence;
  std::shared_ptr<MessageProxy> message;
  bool operator>(const DelayedItem& other) const {
    return eta != other.eta ? eta > other.eta : sequence > other.sequence;
  }
};

class ConsumerThread {
 public:
  ConsumerThread(Worker::Impl& worker, std::string queue_name, int prefetch, bool delay)
      : worker_(worker), queue_name_(std::move(queue_name)),
        logger_(std::string(kConsumerLogger) + "(" + queue_name_ + ")"), prefetch_(prefetch),
        delay_(delay), info_{ThreadInfo::Kind::Consumer, queue_name_} {}

  void start() {
    running_ = true;
    thread_ = std::thread([this] { run(); });
  }
  void stop() { running_ = false; wake_.notify_all(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  void set_paused(bool paused) {
    if (!paused) paused_ack_ = false;
    paused_ = paused;
    wake_.notify_all();
  }
  bool is_paused_acknowledged() const { return paused_ack_; }

  const std::string& queue_name() const { return queue_name_; }
  // Acks or nacks a processed message (called from worker threads).
  void post_process(MessageProxy& message);
  // Puts messages that were never processed back on the broker.
  void requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages);
  // Delayed messages held, or being moved to their queue and acked.
  std::size_t delayed_count() {
    std::lock_guard lock(mutex_);
    return delayed_.size() + moving_delayed_;
  }
  void close();
  // Fetches one message for a worker thread that ran out of queued work
  // (in-process brokers only, see Worker::Impl::spin_for_work); true if one
  // was queued.
  bool fetch_for_worker();

 private:
  void run();
  void consume_loop();
  void handle_message(std::shared_ptr<MessageProxy> message);
  void handle_delayed_messages();
  // How long to wait for the next delivery: the fetch timeout, or less when
  // a delayed message comes due sooner.
  std::chrono::milliseconds next_wait();
  std::chrono::milliseconds next_wait_locked();  // mutex_ held
  void reject_undeliverable(MessageProxy& message, const std::string& type_name,
                            const std::string& reason);

  Worker::Impl& worker_;
  std::string queue_name_;
  std::string logger_;  // upstream names it "dramatiq.worker.ConsumerThread(<queue>)"
  int prefetch_;
  bool delay_;
  ThreadInfo info_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> paused_ack_{false};

  std::mutex mutex_;  // guards consumer_, delayed_, in_flight_
  // Held from taking a message off the broker until it is queued, so that
  // worker threads fetching too keep the broker's order.
  std::mutex fetch_mutex_;
  std::condition_variable wake_;
  std::shared_ptr<Consumer> consumer_;
  std::priority_queue<DelayedItem, std::vector<DelayedItem>, std::greater<>> delayed_;
  std::uint64_t delayed_sequence_ = 0;
  int in_flight_ = 0;  // fetched and not yet acked/nacked (the prefetch window)
  int moving_delayed_ = 0;  // taken off delayed_, their ack not yet done
};

class Worker::Impl {
 public:
  Impl(Worker& owner, Broker& broker, WorkerOptions options, ThreadHooks hooks)
      : owner_(owner), broker_(broker), options_(std::move(options)), hooks_(std::move(hooks)) {
    int threads = std::max(1, options_.worker_threads);
    queue_prefetch_ = options_.queue_prefetch > 0 ? options_.queue_prefetch : std::min(threads * 2, 65535);
    delay_prefetch_ = options_.delay_prefetch > 0 ? options_.delay_prefetch : std::min(threads * 1000, 65535);
  }

  void start();
  void stop(std::chrono::milliseconds timeout);
  void join();
  void pause();
  void resume();

  // Queues a message for the worker threads. Consumers push a whole fetched
  // batch, then call wake_for_work() once.
  void push_work(std::shared_ptr<MessageProxy> message, int priority, ConsumerThread* consumer) {
    std::lock_guard lock(work_mutex_);
    work_.push(WorkItem{priority, work_sequence_++, std::move(message), consumer});
    unfinished_work_ += 1;
    queued_ = work_.size();
  }
  void wake_for_work();

  Broker& broker() { return broker_; }
  Worker& owner() { return owner_; }
  const ThreadHooks& hooks() const { return hooks_; }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(std::max(1, options_.worker_timeout_ms));
  }
  bool running() const { return running_; }
  int worker_threads() const { return std::max(1, options_.worker_threads); }
  // Engine threads report once their boot hooks ran, so start() returns
  // with every thread up (hooks then see boot before any shutdown).
  void thread_booted() {
    {
      std::lock_guard lock(boot_mutex_);
      booted_threads_ += 1;
    }
    booted_.notify_all();
  }

 private:
  void add_consumer(const std::string& queue_name, bool delay);
  bool has_results_middleware() const {
    for (const auto& m : *broker_.middleware()) {
      if (m->name() == "Results") return true;
    }
    return false;
  }
  struct WorkerThreadSlot {
    std::thread thread;
    std::atomic<bool> exited{false};
  };
  void worker_loop(WorkerThreadSlot& slot);
  // Busy-waits briefly for work, one thread at a time, fetching it from
  // the broker itself meanwhile; true if work came.
  bool spin_for_work();
  bool fetch_for_worker();
  // Sleeps until this thread should take queued work (true), or until the
  // worker timeout, a pause or the stop (false). work_mutex_ held.
  bool wait_for_work(std::unique_lock<std::mutex>& lock);
  void process_message(WorkItem& item);

 public:
  // Joins worker threads left running by a stop() that timed out; if some
  // are still busy, detaches them and returns false (the caller must then
  // keep this Impl, and the broker, alive for them).
  bool release_lingering_threads();
  void keep_broker_alive(std::shared_ptr<Broker> broker) { kept_broker_ = std::move(broker); }

 private:

  Worker& owner_;
  Broker& broker_;
  WorkerOptions options_;
  ThreadHooks hooks_;
  int queue_prefetch_;
  int delay_prefetch_;

  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> paused_workers_{0};
  std::mutex boot_mutex_;
  std::condition_variable booted_;
  int booted_threads_ = 0;
  std::optional<std::size_t> listener_id_;

  std::mutex consumers_mutex_;
  std::map<std::string, std::unique_ptr<ConsumerThread>> consumers_;
  std::vector<std::unique_ptr<WorkerThreadSlot>> worker_threads_;
  // Worker threads still running an actor when stop() gave up waiting, and
  // the consumers they will settle their messages through.
  std::vector<std::unique_ptr<WorkerThreadSlot>> lingering_threads_;
  std::map<std::string, std::unique_ptr<ConsumerThread>> retired_consumers_;
  std::shared_ptr<Broker> kept_broker_;

  std::mutex work_mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::condition_variable thread_exited_;
  std::priority_queue<WorkItem, std::vector<WorkItem>, std::greater<>> work_;
  std::uint64_t work_sequence_ = 0;
  std::size_t unfinished_work_ = 0;  // queued plus being processed
  std::atomic<std::size_t> queued_{0};  // work_.size(), readable without the lock
  std::atomic<bool> spinning_{false};   // a worker thread is in spin_for_work()
  // Wake-up bookkeeping (work_mutex_): see wake_for_work and wait_for_work.
  int sleeping_ = 0;             // worker threads in wait_for_work
  int wake_grants_ = 0;          // sleepers allowed to take work right away
  bool watcher_armed_ = false;   // a sleeper checks for stale work every kStaleWorkCheck
  std::uint64_t takes_ = 0;      // work items taken so far
};

// ---------------------------------------------------------------- consumer

void ConsumerThread::run() {
  if (worker_.hooks().on_start) worker_.hooks().on_start();
  Broker& broker = worker_.broker();
  broker.emit_after("after_consumer_thread_boot",
                    [&](Middleware& m) { m.after_consumer_thread_boot(broker, info_); });
  worker_.thread_booted();
  while (running_) {
    if (paused_) {
      paused_ack_ = true;
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, worker_.timeout(), [&] { return !paused_ || !running_; });
      continue;
    }
    paused_ack_ = false;
    try {
      consume_loop();
      continue;  // paused or stopping: no restart delay (upstream waits 3 s here)
    } catch (const BrokerConnectionError& e) {
      log::write(log::Level::Critical, logger_,
                 std::string("Consumer encountered a connection error: ") + e.what());
    } catch (const std::exception& e) {
      log::write(log::Level::Critical, logger_,
                 std::string("Consumer encountered an unexpected error: ") + e.what());
    }
    if (running_) {
      log::write(log::Level::Info, logger_, "Restarting consumer in 3.00 seconds.");
      close();
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kConsumerRestartDelay, [&] { return !running_.load(); });
    }
  }
  broker.emit_before("before_consumer_thread_shutdown",
                     [&](Middleware& m) { m.before_consumer_thread_shutdown(broker, info_); });
  if (worker_.hooks().on_stop) worker_.hooks().on_stop();
}

void ConsumerThread::consume_loop() {
  auto consumer = std::shared_ptr<Consumer>(
      worker_.broker().consume(queue_name_, prefetch_, worker_.timeout()));
  {
    std::lock_guard lock(mutex_);
    consumer_ = consumer;
  }
  while (running_ && !paused_) {
    bool window_full;
    {
      std::unique_lock lock(mutex_);
      window_full = in_flight_ >= prefetch_;
      if (window_full) {
        lock.unlock();
        worker_.wake_for_work();
        lock.lock();
        // The prefetch window is full: wait for an ack (or a delayed
        // message coming due) instead of fetching more.
        auto wait = next_wait_locked();
        // Refill only once half the window is free: fetching again after
        // every single ack would wake this thread once per message.
        wake_.wait_for(lock, wait, [&] { return in_flight_ <= prefetch_ / 2 || !running_; });
      }
    }
    if (!window_full) {
      std::unique_lock fetching(fetch_mutex_);
      auto message = consumer->next(next_wait());
      if (message) handle_message(std::move(message));
      fetching.unlock();
      // Wake worker threads once per fetched batch, not once per message.
      if (!consumer->has_buffered()) worker_.wake_for_work();
    }
    handle_delayed_messages();
  }
}

bool ConsumerThread::fetch_for_worker() {
  // Only while the consumer thread is not fetching itself, and with at most
  // half the window in flight: the consumer thread then is not in its
  // window-full wait, so it still sees any delayed message fetched here
  // when its loop comes round.
  if (delay_) return false;
  std::unique_lock fetching(fetch_mutex_, std::try_to_lock);
  if (!fetching) return false;
  std::shared_ptr<Consumer> consumer;
  {
    std::lock_guard lock(mutex_);
    if (!running_ || paused_ || in_flight_ > prefetch_ / 2) return false;
    consumer = consumer_;
  }
  if (!consumer) return false;
  std::shared_ptr<MessageProxy> message;
  try {
    message = consumer->next(std::chrono::milliseconds(0));
  } catch (const std::exception&) {
    return false;  // the consumer thread meets the same error and handles it
  }
  if (!message) return false;
  handle_message(std::move(message));
  return true;
}

std::chrono::milliseconds ConsumerThread::next_wait() {
  std::lock_guard lock(mutex_);
  return next_wait_locked();
}

std::chrono::milliseconds ConsumerThread::next_wait_locked() {
  auto wait = worker_.timeout();
  std::int64_t eta = delayed_.empty() ? -1 : delayed_.top().eta;
  if (eta >= 0) {
    auto until_due = std::chrono::milliseconds(std::max<std::int64_t>(1, eta - current_millis()));
    wait = std::min(wait, until_due);
  }
  return wait;
}

void ConsumerThread::reject_undeliverable(MessageProxy& message, const std::string& type_name,
                                          const std::string& reason) {
  message.fail();
  message.failure = Failure{type_name, reason, {}, nullptr, false, std::nullopt, false};
  post_process(message);
}

void ConsumerThread::handle_message(std::shared_ptr<MessageProxy> message) {
  {
    std::lock_guard lock(mutex_);
    in_flight_ += 1;
  }
  Broker& broker = worker_.broker();
  if (message->decode_error) {
    log::write(log::Level::Error, logger_,
               "Received an undecodable message on queue " + quoted(queue_name_) +
                   ". Moving it to the DLQ. Reason: " + *message->decode_error);
    reject_undeliverable(*message, "DecodeError", *message->decode_error);
    return;
  }
  Value& options = message->message.options;
  if (Value* eta = options.find("eta")) {
    if (eta->is_null()) {
      options.erase("eta");
    } else if (!eta->is_int() && !eta->is_float()) {
      log::write(log::Level::Warning, logger_,
                 "Invalid eta value for message " + quoted(message->message.message_id) +
                     ". Setting eta to current_millis().");
      *eta = Value(current_millis());
    }
  }
  if (const Value* eta = options.find("eta")) {
    std::int64_t due = static_cast<std::int64_t>(eta->as_number());
    try {
      broker.emit_before("before_delay_message",
                         [&](Middleware& m) { m.before_delay_message(broker, *message); });
    } catch (const std::exception& e) {
      log::write(log::Level::Error, logger_,
                 std::string("A delay_message hook rejected the message: ") + e.what());
    }
    std::lock_guard lock(mutex_);
    delayed_.push(DelayedItem{due, delayed_sequence_++, std::move(message)});
    return;
  }
  auto actor = broker.find_actor(message->message.actor_name);
  if (!actor) {
    log::write(log::Level::Error, logger_,
               "Received message for undefined actor " + quoted(message->message.actor_name) +
                   ". Moving it to the DLQ.");
    reject_undeliverable(*message, "ActorNotFound", message->message.actor_name);
    return;
  }
  worker_.push_work(std::move(message), actor->priority, this);
}

void ConsumerThread::handle_delayed_messages() {
  while (true) {
    std::shared_ptr<MessageProxy> due;
    {
      std::lock_guard lock(mutex_);
      if (delayed_.empty() || delayed_.top().eta > current_millis()) return;
      due = delayed_.top().message;
      delayed_.pop();
      moving_delayed_ += 1;
    }
    Message ready = due->message;
    ready.queue_name = canonical_queue_name(ready.queue_name);
    ready.options.erase("eta");
    try {
      worker_.broker().enqueue(std::move(ready));
    } catch (const std::exception& e) {
      // Keep it and try again shortly rather than losing it.
      log::write(log::Level::Error, logger_,
                 std::string("Failed to move a delayed message to its queue: ") + e.what());
      std::lock_guard lock(mutex_);
      delayed_.push(DelayedItem{current_millis() + 1000, delayed_sequence_++, due});
      moving_delayed_ -= 1;
      return;
    }
    post_process(*due);
    // Worker::join() waits for this: the message is not done before its ack
    // (and the ack's hooks) are.
    std::lock_guard lock(mutex_);
    moving_delayed_ -= 1;
  }
}

void ConsumerThread::post_process(MessageProxy& message) {
  std::shared_ptr<Consumer> consumer;
  {
    std::lock_guard lock(mutex_);
    consumer = consumer_;
  }
  Broker& broker = worker_.broker();
  while (consumer) {
    try {
      if (message.failed) {
        broker.emit_before("before_nack", [&](Middleware& m) { m.before_nack(broker, message); });
        consumer->nack(message);
        broker.emit_after("after_nack", [&](Middleware& m) { m.after_nack(broker, message); });
      } else {
        broker.emit_before("before_ack", [&](Middleware& m) { m.before_ack(broker, message); });
        consumer->ack(message);
        broker.emit_after("after_ack", [&](Middleware& m) { m.after_ack(broker, message); });
      }
      break;
    } catch (const BrokerConnectionError& e) {
      log::write(log::Level::Warning, logger_,
                 "Failed to post_process_message(" + describe(message) +
                     ") due to a connection error: " + e.what() + ". Retrying in 5 seconds.");
      std::this_thread::sleep_for(kPostProcessRetryDelay);
    } catch (const std::exception& e) {
      log::write(log::Level::Error, logger_,
                 "Unhandled error during post_process_message(" + describe(message) +
                     "): " + e.what());
      break;
    }
  }
  bool refill;
  {
    std::lock_guard lock(mutex_);
    in_flight_ -= 1;
    refill = in_flight_ == prefetch_ / 2;
  }
  if (refill) wake_.notify_all();
}

void ConsumerThread::requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) {
  std::shared_ptr<Consumer> consumer;
  {
    std::lock_guard lock(mutex_);
    consumer = consumer_;
    in_flight_ -= static_cast<int>(messages.size());
  }
  if (consumer && !messages.empty()) consumer->requeue(messages);
}

void ConsumerThread::close() {
  std::vector<std::shared_ptr<MessageProxy>> held;
  std::shared_ptr<Consumer> consumer;
  {
    std::lock_guard lock(mutex_);
    while (!delayed_.empty()) {
      held.push_back(delayed_.top().message);
      delayed_.pop();
    }
    consumer = consumer_;
  }
  try {
    requeue(held);
    if (consumer) consumer->close();
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_,
               std::string("Failed to requeue delayed messages: ") + e.what());
  }
}

// ------------------------------------------------------------------ worker

void Worker::Impl::start() {
  broker_.emit_before("before_worker_boot",
                      [&](Middleware& m) { m.before_worker_boot(broker_, owner_); });
  running_ = true;
  for (int i = 0; i < worker_threads(); ++i) {
    auto slot = std::make_unique<WorkerThreadSlot>();
    slot->thread = std::thread([this, s = slot.get()] { worker_loop(*s); });
    worker_threads_.push_back(std::move(slot));
  }
  // Consume every declared queue now, and any queue declared later.
  listener_id_ = broker_.add_queue_listener([this](const std::string& queue_name) {
    add_consumer(queue_name, false);
    add_consumer(delay_queue_name(queue_name), true);
  });
  for (const auto& queue_name : broker_.get_declared_queues()) add_consumer(queue_name, false);
  for (const auto& queue_name : broker_.get_declared_delay_queues()) add_consumer(queue_name, true);
  std::size_t expected;
  {
    std::lock_guard lock(consumers_mutex_);
    expected = consumers_.size() + static_cast<std::size_t>(worker_threads());
  }
  {
    std::unique_lock lock(boot_mutex_);
    booted_.wait(lock, [&] { return static_cast<std::size_t>(booted_threads_) >= expected; });
  }
  broker_.emit_after("after_worker_boot",
                     [&](Middleware& m) { m.after_worker_boot(broker_, owner_); });
}

void Worker::Impl::add_consumer(const std::string& queue_name, bool delay) {
  if (!running_) return;
  if (options_.queues && !options_.queues->count(canonical_queue_name(queue_name))) return;
  std::lock_guard lock(consumers_mutex_);
  if (consumers_.count(queue_name)) return;
  auto consumer = std::make_unique<ConsumerThread>(*this, queue_name,
                                                   delay ? delay_prefetch_ : queue_prefetch_, delay);
  if (paused_) consumer->set_paused(true);
  consumer->start();
  consumers_[queue_name] = std::move(consumer);
}

void Worker::Impl::worker_loop(WorkerThreadSlot& slot) {
  if (hooks_.on_start) hooks_.on_start();
  ThreadInfo info{ThreadInfo::Kind::Worker, {}};
  broker_.emit_after("after_worker_thread_boot",
                     [&](Middleware& m) { m.after_worker_thread_boot(broker_, info); });
  thread_booted();
  bool counted_paused = false;
  auto last_yield = std::chrono::steady_clock::now();
  auto yield = [&] {
    if (hooks_.on_yield) hooks_.on_yield();
    last_yield = std::chrono::steady_clock::now();
  };
  while (running_) {
    std::unique_lock lock(work_mutex_);
    if (work_.empty() && !paused_) {
      // The host lock stays held while spinning (a few microseconds, within
      // the kYieldInterval other host threads may already wait): handing it
      // over here would cost the switch the spin is there to avoid.
      lock.unlock();
      spin_for_work();
      lock.lock();
    }
    if (work_.empty() || paused_) {
      lock.unlock();
      yield();
      lock.lock();
    }
    if (paused_) {
      if (!counted_paused) {
        counted_paused = true;
        paused_workers_ += 1;
        work_done_.notify_all();
      }
      work_ready_.wait_for(lock, timeout(), [&] { return !paused_ || !running_; });
      continue;
    }
    if (counted_paused) {
      counted_paused = false;
      paused_workers_ -= 1;
    }
    if (!wait_for_work(lock)) continue;
    WorkItem item = work_.top();
    work_.pop();
    queued_ = work_.size();
    takes_ += 1;
    if (work_.empty()) wake_grants_ = 0;  // nothing left for sleepers already woken
    // Work is left and nobody watches it: have a sleeper do so, in case
    // this message keeps this thread busy for long.
    bool arm_watcher = !work_.empty() && !watcher_armed_ && sleeping_ > 0;
    lock.unlock();
    if (arm_watcher) work_ready_.notify_one();
    process_message(item);
    lock.lock();
    unfinished_work_ -= 1;
    bool drained = unfinished_work_ == 0;
    lock.unlock();
    // Waking join() per message would cost a context switch each time.
    if (drained) work_done_.notify_all();
    if (std::chrono::steady_clock::now() - last_yield >= kYieldInterval) yield();
  }
  yield();
  if (counted_paused) paused_workers_ -= 1;
  broker_.emit_before("before_worker_thread_shutdown",
                      [&](Middleware& m) { m.before_worker_thread_shutdown(broker_, info); });
  if (hooks_.on_stop) hooks_.on_stop();
  {
    std::lock_guard lock(work_mutex_);
    slot.exited = true;
  }
  thread_exited_.notify_all();
}

// Waking a sleeping thread per message costs a context switch and, with
// Python actors, a GIL handoff; an awake thread that is between messages
// takes queued work for free. So a push wakes a sleeper only when every
// thread sleeps. Parallelism for actors that run long (or wait on I/O) comes
// from the watcher: one sleeper wakes every kStaleWorkCheck while others are
// busy, and when queued work went untouched for a whole period it takes
// some and wakes one sleeper per remaining item.
void Worker::Impl::wake_for_work() {
  if (spinning_) return;  // the spinning thread takes it
  bool wake;
  {
    std::lock_guard lock(work_mutex_);
    if (work_.empty() || sleeping_ == 0) return;
    if (sleeping_ == worker_threads()) {
      wake = true;
      wake_grants_ = std::max(wake_grants_, 1);
    } else {
      wake = !watcher_armed_;  // the one woken arms itself
    }
  }
  if (wake) work_ready_.notify_one();
}

bool Worker::Impl::wait_for_work(std::unique_lock<std::mutex>& lock) {
  if (!work_.empty()) return !paused_ && running_;
  sleeping_ += 1;
  bool watching = false;
  bool take = false;
  std::uint64_t takes_seen = takes_;
  auto deadline = std::chrono::steady_clock::now() + timeout();
  while (running_ && !paused_) {
    if (!work_.empty() && wake_grants_ > 0) {
      wake_grants_ -= 1;
      take = true;
      break;
    }
    if (!watching && !watcher_armed_ && sleeping_ < worker_threads()) {
      watching = watcher_armed_ = true;
      takes_seen = takes_;
    }
    auto wake_at = deadline;
    if (watching) wake_at = std::min(deadline, std::chrono::steady_clock::now() + kStaleWorkCheck);
    if (work_ready_.wait_until(lock, wake_at) == std::cv_status::no_timeout) continue;
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (watching && !work_.empty() && takes_ == takes_seen) {
      // Nobody took anything for a whole period: the awake threads are
      // stuck in long actors. This one and the other sleepers help out.
      wake_grants_ = std::min<int>(static_cast<int>(work_.size()) - 1, sleeping_ - 1);
      for (int i = 0; i < wake_grants_; ++i) work_ready_.notify_one();
      take = true;
      break;
    }
    if (watching && work_.empty() && takes_ == takes_seen) {
      watching = watcher_armed_ = false;  // all quiet: sleep until the next push
    }
    takes_seen = takes_;
  }
  if (watching) watcher_armed_ = false;
  sleeping_ -= 1;
  return take;
}

bool Worker::Impl::spin_for_work() {
  // When messages arrive about as fast as they are processed, the queue is
  // often empty for a few microseconds only: sleeping then means one wake-up
  // per message. One thread waits actively instead, for a short while.
  if (!broker_.worth_spinning_for_work()) return false;
  bool expected = false;
  if (!spinning_.compare_exchange_strong(expected, true)) return false;
  auto until = std::chrono::steady_clock::now() + kWorkSpinTime;
  bool found = false;
  while (!found && std::chrono::steady_clock::now() < until) {
    // Taking the next message off the in-process broker here costs about
    // what the consumer thread would spend on it, and spares the hand-off
    // to and from that thread (a wake-up each way, often a core the machine
    // does not have free).
    found = queued_.load(std::memory_order_relaxed) > 0 || !running_ || paused_ ||
            fetch_for_worker();
  }
  spinning_ = false;
  return found;
}

bool Worker::Impl::fetch_for_worker() {
  std::unique_lock lock(consumers_mutex_, std::try_to_lock);
  if (!lock) return false;
  for (auto& [queue_name, consumer] : consumers_) {
    if (consumer->fetch_for_worker()) return true;
  }
  return false;
}

void Worker::Impl::process_message(WorkItem& item) {
  MessageProxy& message = *item.message;
  std::shared_ptr<Actor> actor;
  CurrentMessage::set_current(&message);
  try {
    broker_.emit_before("before_process_message",
                        [&](Middleware& m) { m.before_process_message(broker_, message); });
    Value result;
    if (!message.failed) {
      actor = broker_.get_actor(message.message.actor_name);
      result = actor->body->run(message);
      if (!result.is_null() && !message.message.options.contains("pipe_target") &&
          !has_results_middleware()) {
        log::write(log::Level::Warning, kWorkerThreadLogger,
                   "Actor '" + actor->actor_name +
                       "' returned a value that is not None, and you haven't added the Results "
                       "middleware to the broker, so the value has been discarded. Consider adding "
                       "the Results middleware to your broker or piping the result into another "
                       "actor.");
      }
    }
    message.result = std::move(result);
    broker_.emit_after("after_process_message", [&](Middleware& m) {
      m.after_process_message(broker_, message, &message.result, nullptr);
    });
  } catch (const SkipMessage& e) {
    if (message.failed) message.failure = Failure::from_exception(std::current_exception());
    log::write(log::Level::Warning, kWorkerThreadLogger,
               "Message " + describe(message) + " was skipped.");
    broker_.emit_after("after_skip_message",
                       [&](Middleware& m) { m.after_skip_message(broker_, message); });
  } catch (...) {
    message.failure = Failure::from_exception(std::current_exception());
    const Failure& failure = *message.failure;
    const Value* throws = message.message.options.find("throws");
    if ((!throws || throws->is_null()) && actor) throws = actor->options.find("throws");
    if (failure.is_rate_limit_exceeded) {
      log::write(log::Level::Debug, kWorkerThreadLogger,
                 "Rate limit exceeded in message " + describe(message) + ": " + failure.message);
    } else if (throws && !throws->is_null() && failure.matches(*throws)) {
      log::write(log::Level::Info, kWorkerThreadLogger,
                 "Failed to process message " + describe(message) + " with expected exception " +
                     failure.type_name + ".");
    } else if (!failure.is_retry) {
      log::write(log::Level::Error, kWorkerThreadLogger,
                 "Failed to process message " + describe(message) + " with unhandled exception.",
                 &failure);
    }
    broker_.emit_after("after_process_message", [&](Middleware& m) {
      m.after_process_message(broker_, message, nullptr, &failure);
    });
  }
  CurrentMessage::set_current(nullptr);
  item.consumer->post_process(message);
  // Let go of what this delivery kept alive (exceptions hold tracebacks).
  message.failure.reset();
  message.result = Value();
  message.host_view.reset();
}

void Worker::Impl::pause() {
  paused_ = true;
  {
    std::lock_guard lock(consumers_mutex_);
    for (auto& [name, consumer] : consumers_) consumer->set_paused(true);
  }
  work_ready_.notify_all();
  {
    std::unique_lock lock(work_mutex_);
    work_done_.wait(lock, [&] { return paused_workers_ >= worker_threads() || !running_; });
  }
  // Consumers notice within one fetch timeout; pausing is rare, so poll.
  while (running_) {
    bool all_paused = true;
    {
      std::lock_guard lock(consumers_mutex_);
      for (auto& [name, consumer] : consumers_) all_paused = all_paused && consumer->is_paused_acknowledged();
    }
    if (all_paused) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Worker::Impl::resume() {
  paused_ = false;
  {
    std::lock_guard lock(consumers_mutex_);
    for (auto& [name, consumer] : consumers_) consumer->set_paused(false);
  }
  work_ready_.notify_all();
}

void Worker::Impl::join() {
  while (true) {
    {
      std::unique_lock lock(work_mutex_);
      work_done_.wait(lock, [&] { return unfinished_work_ == 0; });
    }
    bool delayed_pending = false;
    {
      std::lock_guard lock(consumers_mutex_);
      for (auto& [name, consumer] : consumers_) {
        if (consumer->delayed_count() > 0) delayed_pending = true;
      }
    }
    if (!delayed_pending) {
      std::lock_guard lock(work_mutex_);
      if (unfinished_work_ == 0) return;
      continue;
    }
    std::unique_lock lock(work_mutex_);
    work_done_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void Worker::Impl::stop(std::chrono::milliseconds timeout) {
  broker_.emit_before("before_worker_shutdown",
                      [&](Middleware& m) { m.before_worker_shutdown(broker_, owner_); });
  log::write(log::Level::Info, kWorkerLogger, "Shutting down...");
  if (listener_id_) broker_.remove_queue_listener(*listener_id_);
  // Worker threads stop first; consumers stay up meanwhile so brokers keep
  // their heartbeats while in-flight messages finish.
  running_ = false;
  work_ready_.notify_all();
  {
    // Worker threads end as soon as their current message is done; wait
    // for that up to the timeout, as upstream does.
    std::unique_lock lock(work_mutex_);
    thread_exited_.wait_for(lock, timeout, [&] {
      return std::all_of(worker_threads_.begin(), worker_threads_.end(),
                         [](const auto& slot) { return slot->exited.load(); });
    });
  }
  for (auto& slot : worker_threads_) {
    if (slot->exited) {
      slot->thread.join();
    } else {
      lingering_threads_.push_back(std::move(slot));
    }
  }
  worker_threads_.clear();
  if (!lingering_threads_.empty()) {
    log::write(log::Level::Warning, kWorkerLogger,
               std::to_string(lingering_threads_.size()) +
                   " worker thread(s) still running an actor after the stop timeout; their "
                   "messages are acknowledged when they finish.");
  }
  std::map<std::string, std::unique_ptr<ConsumerThread>> consumers;
  {
    std::lock_guard lock(consumers_mutex_);
    consumers.swap(consumers_);
  }
  for (auto& [name, consumer] : consumers) consumer->stop();
  for (auto& [name, consumer] : consumers) consumer->join();

  // Requeue what was prefetched but never started.
  std::map<ConsumerThread*, std::vector<std::shared_ptr<MessageProxy>>> leftovers;
  {
    std::lock_guard lock(work_mutex_);
    while (!work_.empty()) {
      leftovers[work_.top().consumer].push_back(work_.top().message);
      work_.pop();
    }
    queued_ = 0;
    unfinished_work_ = 0;
  }
  for (auto& [consumer, messages] : leftovers) {
    try {
      consumer->requeue(messages);
    } catch (const std::exception& e) {
      log::write(log::Level::Warning, kWorkerLogger,
                 "Failed to requeue messages on queue " + quoted(consumer->queue_name()) + ": " +
                     e.what());
    }
  }
  for (auto& [name, consumer] : consumers) consumer->close();
  if (!lingering_threads_.empty()) {
    for (auto& [name, consumer] : consumers) retired_consumers_[name] = std::move(consumer);
  }
  work_done_.notify_all();
  broker_.emit_after("after_worker_shutdown",
                     [&](Middleware& m) { m.after_worker_shutdown(broker_, owner_); });
  log::write(log::Level::Info, kWorkerLogger, "Worker has been shut down.");
}

// ------------------------------------------------------------ public facade

Worker::Worker(std::shared_ptr<Broker> broker, WorkerOptions options, ThreadHooks hooks)
    : broker_(std::move(broker)),
      impl_(std::make_unique<Impl>(*this, *broker_, std::move(options), std::move(hooks))) {}

bool Worker::Impl::release_lingering_threads() {
  bool all_joined = true;
  for (auto& slot : lingering_threads_) {
    if (slot->exited) {
      slot->thread.join();
    } else {
      slot->thread.detach();
      all_joined = false;
    }
  }
  lingering_threads_.clear();
  return all_joined;
}

Worker::~Worker() {
  if (impl_->running()) stop(std::chrono::milliseconds(10000));
  if (!impl_->release_lingering_threads()) {
    // A detached thread is still running an actor and will touch the
    // worker's state when it finishes: leave that state (and the broker)
    // alive until the process ends rather than free it under the thread.
    impl_->keep_broker_alive(broker_);
    static_cast<void>(impl_.release());
  }
}

void Worker::start() { impl_->start(); }
void Worker::pause() { impl_->pause(); }
void Worker::resume() { impl_->resume(); }
void Worker::join() { impl_->join(); }
void Worker::stop(std::chrono::milliseconds timeout) { impl_->stop(timeout); }
int Worker::worker_threads() const { return impl_->worker_threads(); }

}  // namespace dramatiq
