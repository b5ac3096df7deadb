#include "dramatiq/worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "dramatiq/log.hpp"
#include "worker/cancellation_tracker.hpp"
#include "worker/consumer_thread.hpp"
#include "worker/message_runner.hpp"
#include "worker/work_queue.hpp"
#include "worker/worker_record_keeper.hpp"

namespace dramatiq {

namespace {
constexpr const char* kWorkerLogger = "dramatiq.worker.Worker";
}  // namespace

// The worker's lifecycle: it starts the worker threads and one consumer
// thread per queue (and delay queue), pauses and resumes them, and stops
// them in order: worker threads finish what they run, consumers stop
// fetching, and what was fetched but never started goes back to the broker.
class Worker::Impl {
 public:
  Impl(Worker& owner, Broker& broker, WorkerOptions options, ThreadHooks hooks)
      : owner_(owner), broker_(broker), options_(options.resolved()), hooks_(std::move(hooks)),
        queue_prefetch_(options_.queue_prefetch), delay_prefetch_(options_.delay_prefetch) {}

  void start();
  void stop(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
            std::chrono::milliseconds poll);
  bool join(std::optional<std::chrono::steady_clock::time_point> deadline);
  void request_pause();
  void wait_paused();
  void resume();

  bool running() const { return running_; }
  int worker_threads() const { return std::max(1, options_.worker_threads); }
  const WorkerOptions& options() const { return options_; }
  std::vector<std::string> consumed_queues() const {
    std::lock_guard lock(consumers_mutex_);
    std::vector<std::string> names;
    for (const auto& [name, consumer] : consumers_) names.push_back(name);
    return names;
  }
  std::optional<std::size_t> outstanding_messages(const std::string& queue_name) const {
    std::lock_guard lock(consumers_mutex_);
    auto it = consumers_.find(queue_name);
    if (it == consumers_.end()) return std::nullopt;
    return it->second->outstanding_count();
  }
  std::vector<ThreadId> worker_thread_ids() const {
    std::lock_guard lock(exit_mutex_);
    std::vector<ThreadId> ids;
    for (const auto& slot : worker_threads_) {
      if (slot && !slot->exited) ids.push_back(static_cast<ThreadId>(slot->thread.native_handle()));
    }
    return ids;
  }
  // Consumers opened after the change use it (see Worker::set_queue_prefetch).
  void set_prefetch(int prefetch, bool delay) {
    if (prefetch < 1) throw std::invalid_argument("prefetch must be at least 1");
    (delay ? delay_prefetch_ : queue_prefetch_) = prefetch;
  }
  int prefetch(bool delay) const { return delay ? delay_prefetch_ : queue_prefetch_; }

  // One worker thread, by its id (see Worker::pause_thread).
  void pause_thread(ThreadId id) { running_work().pause_slot(slot_of(id)); }
  void resume_thread(ThreadId id) { running_work().resume_slot(slot_of(id)); }
  bool wait_thread_paused(ThreadId id, std::chrono::milliseconds timeout) {
    return running_work().wait_slot_parked(slot_of(id), timeout);
  }
  std::size_t queued_messages() const { return work_ ? work_->queued() : 0; }

  // Joins worker threads left running by a stop() that timed out; if some
  // are still busy, detaches them and returns false (the caller must then
  // keep this Impl, and the broker, alive for them).
  bool release_lingering_threads();
  void keep_broker_alive(std::shared_ptr<Broker> broker) { kept_broker_ = std::move(broker); }

 private:
  struct WorkerThreadSlot {
    std::thread thread;
    int index = -1;       // its place among the threads of one start(): the work queue's slot
    bool exited = false;  // exit_mutex_
  };
  int slot_of(ThreadId id) const {
    std::lock_guard lock(exit_mutex_);
    for (const auto& slot : worker_threads_) {
      if (slot && !slot->exited && static_cast<ThreadId>(slot->thread.native_handle()) == id) return slot->index;
    }
    throw std::invalid_argument("no running worker thread of this Worker has id " + std::to_string(id));
  }
  WorkQueue& running_work() const {
    if (!running_ || !work_) throw std::logic_error("the Worker is not running");
    return *work_;
  }
  void add_consumer(const std::string& queue_name, bool delay);
  // For a worker thread out of work: one message off any queue's consumer.
  bool fetch_for_worker();
  void worker_loop(WorkerThreadSlot& slot, WorkQueue& work);
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(std::max(1, *options_.worker_timeout_ms));
  }
  // Engine threads report once their boot hooks ran, so start() returns
  // with every thread up (hooks then see boot before any shutdown).
  void thread_booted() {
    {
      std::lock_guard lock(boot_mutex_);
      booted_threads_ += 1;
    }
    booted_.notify_all();
  }

  Worker& owner_;
  Broker& broker_;
  WorkerOptions options_;
  ThreadHooks hooks_;
  std::atomic<int> queue_prefetch_;  // read when a consumer is added, on any thread
  std::atomic<int> delay_prefetch_;

  std::atomic<bool> running_{false};
  std::atomic<bool> paused_{false};
  std::mutex boot_mutex_;
  std::condition_variable booted_;
  int booted_threads_ = 0;
  std::optional<std::size_t> listener_id_;

  // Worker threads that outlive a stop() keep using the queue they took
  // from, so each start() gets a fresh one and old ones stay alive.
  std::shared_ptr<WorkQueue> work_;
  std::vector<std::shared_ptr<WorkQueue>> old_work_queues_;

  mutable std::mutex consumers_mutex_;
  std::map<std::string, std::unique_ptr<ConsumerThread>> consumers_;

  mutable std::mutex exit_mutex_;
  std::condition_variable thread_exited_;
  std::vector<std::unique_ptr<WorkerThreadSlot>> worker_threads_;
  // Worker threads still running an actor when stop() gave up waiting.
  std::vector<std::unique_ptr<WorkerThreadSlot>> lingering_threads_;
  std::shared_ptr<Broker> kept_broker_;
  CancellationTracker cancellations_;
  // For the worker's record, since it started.
  std::atomic<std::int64_t> processed_{0};
  std::atomic<std::int64_t> failed_{0};
  std::atomic<std::int64_t> retried_{0};
  std::atomic<std::int64_t> skipped_{0};
  std::unique_ptr<WorkerRecordKeeper> records_;
};

void Worker::Impl::start() {
  broker_.emit_before("before_worker_boot",
                      [&](Middleware& m) { m.before_worker_boot(broker_, owner_); });
  if (work_) old_work_queues_.push_back(std::move(work_));
  work_ = std::make_shared<WorkQueue>(worker_threads(), broker_.traits().hands_over_in_process, timeout(),
                                      WorkQueueTuning{}, [this] { return fetch_for_worker(); });
  if (paused_) work_->set_paused(true);
  // Before any message is taken: those cancelled already are skipped.
  cancellations_.start(broker_);
  running_ = true;
  for (int i = 0; i < worker_threads(); ++i) {
    auto slot = std::make_unique<WorkerThreadSlot>();
    slot->index = i;
    slot->thread = std::thread([this, s = slot.get(), work = work_] { worker_loop(*s, *work); });
    std::lock_guard lock(exit_mutex_);  // worker_thread_ids() reads the list
    worker_threads_.push_back(std::move(slot));
  }
  // Consume every declared queue now, and any queue declared later.
  listener_id_ = broker_.add_queue_listener([this](const std::string& queue_name) {
    add_consumer(queue_name, false);
    if (!broker_.traits().schedules_delays) add_consumer(delay_queue_name(queue_name), true);
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
  records_ = std::make_unique<WorkerRecordKeeper>(broker_, hooks_, worker_threads(), [this](WorkerRecord& record) {
    record.queues = consumed_queues();
    for (const auto& queue : record.queues) {
      if (auto held = outstanding_messages(queue)) record.held.emplace_back(queue, static_cast<std::int64_t>(*held));
    }
    record.running = cancellations_.running();
    cancellations_.take_timings(record.recent_durations_ms, record.recent_waits_ms);
    record.processed = processed_.load(std::memory_order_relaxed);
    record.failed = failed_.load(std::memory_order_relaxed);
    record.retried = retried_.load(std::memory_order_relaxed);
    record.skipped = skipped_.load(std::memory_order_relaxed);
  });
  records_->start();
  broker_.emit_after("after_worker_boot",
                     [&](Middleware& m) { m.after_worker_boot(broker_, owner_); });
}

void Worker::Impl::add_consumer(const std::string& queue_name, bool delay) {
  if (!running_) return;
  if (options_.queues && !options_.queues->count(canonical_queue_name(queue_name))) return;
  std::lock_guard lock(consumers_mutex_);
  if (consumers_.count(queue_name)) return;
  ConsumerThread::Context context{broker_, *work_, hooks_, timeout(),
                                  std::chrono::milliseconds(std::max(0, options_.consumer_restart_delay_ms)),
                                  [this] { thread_booted(); }};
  auto consumer = std::make_unique<ConsumerThread>(std::move(context), queue_name,
                                                   delay ? delay_prefetch_ : queue_prefetch_, delay);
  if (paused_) consumer->set_paused(true);
  consumer->start();
  consumers_[queue_name] = std::move(consumer);
}

bool Worker::Impl::fetch_for_worker() {
  std::unique_lock lock(consumers_mutex_, std::try_to_lock);
  if (!lock) return false;
  for (auto& [queue_name, consumer] : consumers_) {
    if (consumer->fetch_for_worker()) return true;
  }
  return false;
}

void Worker::Impl::worker_loop(WorkerThreadSlot& slot, WorkQueue& work) {
  if (hooks_.on_start) hooks_.on_start();
  ThreadInfo info{ThreadInfo::Kind::Worker, {}};
  broker_.emit_after("after_worker_thread_boot",
                     [&](Middleware& m) { m.after_worker_thread_boot(broker_, info); });
  thread_booted();
  CancellationTracker::RunningSlot& running = cancellations_.enroll();
  auto last_yield = std::chrono::steady_clock::now();
  std::function<void()> yield = [&] {
    if (hooks_.on_yield) hooks_.on_yield();
    last_yield = std::chrono::steady_clock::now();
  };
  while (true) {
    std::optional<WorkItem> item = work.take(yield, slot.index);
    if (!item) {
      if (work.closed()) break;
      continue;
    }
    MessageProxy& message = *item->message;
    if (!cancellations_.begin(running, message.message)) {
      skip_cancelled(broker_, message);
      skipped_.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (hooks_.around_message) {
        hooks_.around_message(message, [&] { run_message(broker_, message); });
      } else {
        run_message(broker_, message);
      }
      cancellations_.finished(running);
      if (message.failure && message.failure->is_cancellation) message.cancelled = true;
      processed_.fetch_add(1, std::memory_order_relaxed);
      if (message.failure && !message.cancelled) {
        failed_.fetch_add(1, std::memory_order_relaxed);
        // Not failed for good: the Retries middleware enqueued it again.
        if (!message.failed) retried_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    item->source->settle(broker_, message);
    // Let go of what this delivery kept alive (exceptions hold tracebacks).
    message.failure.reset();
    message.result = Value();
    message.host_view.reset();
    item.reset();
    work.done();
    if (std::chrono::steady_clock::now() - last_yield >= kYieldInterval) yield();
  }
  yield();
  cancellations_.leave(running);
  broker_.emit_before("before_worker_thread_shutdown",
                      [&](Middleware& m) { m.before_worker_thread_shutdown(broker_, info); });
  if (hooks_.on_stop) hooks_.on_stop();
  {
    std::lock_guard lock(exit_mutex_);
    slot.exited = true;
  }
  thread_exited_.notify_all();
}

void Worker::Impl::request_pause() {
  paused_ = true;
  {
    std::lock_guard lock(consumers_mutex_);
    for (auto& [name, consumer] : consumers_) consumer->set_paused(true);
  }
  if (work_) work_->set_paused(true);
}

void Worker::Impl::wait_paused() {
  if (!work_) return;
  work_->wait_until_parked(worker_threads());
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
  if (work_) {
    work_->resume_slots();
    work_->set_paused(false);
  }
}

bool Worker::Impl::join(std::optional<std::chrono::steady_clock::time_point> deadline) {
  using Clock = std::chrono::steady_clock;
  if (!work_) return true;
  auto left = [&]() -> std::optional<std::chrono::milliseconds> {
    if (!deadline) return std::nullopt;
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()));
  };
  while (true) {
    if (!work_->wait_drained(left())) return false;
    bool delayed_pending = false;
    {
      std::lock_guard lock(consumers_mutex_);
      for (auto& [name, consumer] : consumers_) {
        if (consumer->delayed_count() > 0) delayed_pending = true;
      }
    }
    if (!delayed_pending) {
      if (work_->wait_drained(std::chrono::milliseconds(0))) return true;
      continue;
    }
    if (deadline && Clock::now() >= *deadline) return false;
    // Held delayed messages come due by the clock; check again shortly.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Worker::Impl::stop(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
                        std::chrono::milliseconds poll) {
  broker_.emit_before("before_worker_shutdown",
                      [&](Middleware& m) { m.before_worker_shutdown(broker_, owner_); });
  log::write(log::Level::Info, kWorkerLogger, "Shutting down...");
  if (listener_id_) broker_.remove_queue_listener(*listener_id_);
  listener_id_.reset();
  // Worker threads stop first (as soon as their current message is done,
  // waiting up to the timeout as upstream does); consumers stay up
  // meanwhile so brokers keep their heartbeats while in-flight messages
  // finish.
  running_ = false;
  if (work_) work_->close();
  {
    using Clock = std::chrono::steady_clock;
    // Bounded so that "wait for ever" (a huge timeout) cannot overflow the clock.
    const auto deadline = Clock::now() + std::min<Clock::duration>(timeout, std::chrono::hours(24 * 365 * 100));
    auto all_exited = [&] {
      return std::all_of(worker_threads_.begin(), worker_threads_.end(),
                         [](const auto& slot) { return slot->exited; });
    };
    std::unique_lock lock(exit_mutex_);
    while (!all_exited()) {
      const auto now = Clock::now();
      if (now >= deadline) break;
      auto slice = deadline - now;
      if (keep_waiting) slice = std::min<Clock::duration>(slice, poll);
      if (thread_exited_.wait_for(lock, slice, all_exited)) break;
      if (keep_waiting) {
        // Asked without the lock: the answer may take a while (a Python
        // caller takes the GIL, and a worker thread may be holding it
        // while it exits).
        lock.unlock();
        const bool go_on = keep_waiting();
        lock.lock();
        if (!go_on) break;
      }
    }
    for (auto& slot : worker_threads_) {
      if (!slot->exited) lingering_threads_.push_back(std::move(slot));
    }
  }
  for (auto& slot : worker_threads_) {
    if (slot) slot->thread.join();
  }
  {
    std::lock_guard lock(exit_mutex_);
    worker_threads_.clear();
  }
  cancellations_.stop();
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

  // What was fetched but never started goes back through the session that
  // delivered it; then what the delay consumers held.
  if (work_) {
    std::vector<std::pair<std::shared_ptr<ConsumerSession>, std::vector<std::shared_ptr<MessageProxy>>>> batches;
    for (auto& item : work_->take_all()) {
      auto it = std::find_if(batches.begin(), batches.end(),
                             [&](const auto& batch) { return batch.first == item.source; });
      if (it == batches.end()) it = batches.insert(batches.end(), {item.source, {}});
      it->second.push_back(std::move(item.message));
    }
    for (auto& [session, messages] : batches) session->requeue(messages);
  }
  for (auto& [name, consumer] : consumers) consumer->requeue_held();
  consumers.clear();
  if (records_) records_->stop();
  broker_.emit_after("after_worker_shutdown",
                     [&](Middleware& m) { m.after_worker_shutdown(broker_, owner_); });
  log::write(log::Level::Info, kWorkerLogger, "Worker has been shut down.");
}

bool Worker::Impl::release_lingering_threads() {
  bool all_joined = true;
  std::lock_guard lock(exit_mutex_);
  for (auto& slot : lingering_threads_) {
    if (slot->exited) {
      slot->thread.join();
      slot.reset();
    } else {
      slot->thread.detach();
      all_joined = false;
    }
  }
  // A detached thread still writes its slot when its actor ends: its slot
  // stays, with the rest of this state the caller then keeps alive.
  std::erase(lingering_threads_, nullptr);
  return all_joined;
}

// ------------------------------------------------------------ public facade

Worker::Worker(std::shared_ptr<Broker> broker, WorkerOptions options, ThreadHooks hooks)
    : broker_(std::move(broker)),
      impl_(std::make_unique<Impl>(*this, *broker_, std::move(options), std::move(hooks))) {}

Worker::~Worker() {
  if (impl_->running()) stop(std::chrono::milliseconds(10000));
  if (!impl_->release_lingering_threads()) {
    // A detached thread is still running an actor and will touch the
    // worker's state when it finishes: leave that state (and the broker)
    // alive until the process ends rather than free it under the thread.
    impl_->keep_broker_alive(broker_);
    // Held from a static that is never destroyed: alive (and reachable, so
    // no leak report) for the rest of the process, never freed under the
    // thread, not even by exit-time destructors.
    static auto* outliving = new std::vector<std::unique_ptr<Impl>>();
    static std::mutex outliving_mutex;
    std::lock_guard lock(outliving_mutex);
    outliving->push_back(std::move(impl_));
  }
}

void Worker::start() { impl_->start(); }
void Worker::pause() {
  impl_->request_pause();
  impl_->wait_paused();
}
void Worker::request_pause() { impl_->request_pause(); }
void Worker::wait_paused() { impl_->wait_paused(); }
void Worker::resume() { impl_->resume(); }
void Worker::join() { impl_->join(std::nullopt); }
bool Worker::join_for(std::chrono::milliseconds timeout) {
  return impl_->join(std::chrono::steady_clock::now() + timeout);
}
void Worker::stop(std::chrono::milliseconds timeout) { impl_->stop(timeout, nullptr, timeout); }
void Worker::stop(std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
                  std::chrono::milliseconds poll) {
  impl_->stop(timeout, keep_waiting, poll);
}
int Worker::worker_threads() const { return impl_->worker_threads(); }
int Worker::worker_timeout_ms() const { return *impl_->options().worker_timeout_ms; }
int Worker::queue_prefetch() const { return impl_->prefetch(false); }
int Worker::delay_prefetch() const { return impl_->prefetch(true); }
void Worker::pause_thread(ThreadId id) { impl_->pause_thread(id); }
void Worker::resume_thread(ThreadId id) { impl_->resume_thread(id); }
bool Worker::wait_thread_paused(ThreadId id, std::chrono::milliseconds timeout) {
  return impl_->wait_thread_paused(id, timeout);
}
std::size_t Worker::queued_messages() const { return impl_->queued_messages(); }
void Worker::set_queue_prefetch(int prefetch) { impl_->set_prefetch(prefetch, false); }
void Worker::set_delay_prefetch(int prefetch) { impl_->set_prefetch(prefetch, true); }
std::vector<std::string> Worker::consumed_queues() const { return impl_->consumed_queues(); }
std::vector<ThreadId> Worker::worker_thread_ids() const { return impl_->worker_thread_ids(); }
std::optional<std::size_t> Worker::outstanding_messages(const std::string& queue_name) const {
  return impl_->outstanding_messages(queue_name);
}

}  // namespace dramatiq
