#include "worker/consumer_thread.hpp"

#include <algorithm>

#include "core/saturating.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

namespace {
constexpr const char* kConsumerLogger = "dramatiq.worker.ConsumerThread";

// A batch pushed to the work queue, ended however the pushing ends.
struct WorkBatch {
  explicit WorkBatch(WorkQueue& work) : work(work) { work.begin_batch(); }
  ~WorkBatch() { work.end_batch(); }
  WorkBatch(const WorkBatch&) = delete;
  WorkBatch& operator=(const WorkBatch&) = delete;
  WorkQueue& work;
};
std::string quoted(const std::string& s) { return "'" + s + "'"; }
}  // namespace

ConsumerThread::ConsumerThread(Context context, std::string queue_name, int prefetch, bool delay)
    : context_(std::move(context)), queue_name_(std::move(queue_name)),
      logger_(std::string(kConsumerLogger) + "(" + queue_name_ + ")"), prefetch_(std::max(1, prefetch)),
      delay_(delay), info_{ThreadInfo::Kind::Consumer, queue_name_},
      window_(std::make_shared<PrefetchWindow>(prefetch_)) {}

ConsumerThread::~ConsumerThread() {
  stop();
  join();
}

void ConsumerThread::start() {
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void ConsumerThread::stop() {
  std::shared_ptr<ConsumerSession> session;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    session = session_;
  }
  wake_.notify_all();
  window_->interrupt();
  // A fetch waiting for messages would otherwise hold the stop up to the
  // fetch timeout (the worker timeout, 1 s by default).
  if (session) session->consumer().interrupt_wait();
}

void ConsumerThread::join() {
  if (thread_.joinable()) thread_.join();
}

void ConsumerThread::set_paused(bool paused) {
  {
    std::lock_guard lock(mutex_);
    if (!paused) paused_ack_ = false;
    paused_ = paused;
  }
  wake_.notify_all();
  window_->interrupt();
}

std::size_t ConsumerThread::delayed_count() const {
  std::lock_guard lock(mutex_);
  return delayed_.size() + moving_delayed_;
}

void ConsumerThread::run() {
  if (context_.hooks.on_start) context_.hooks.on_start();
  Broker& broker = context_.broker;
  broker.emit_after("after_consumer_thread_boot",
                    [&](Middleware& m) { m.after_consumer_thread_boot(broker, info_); });
  context_.booted();
  while (running_) {
    if (paused_) {
      std::unique_lock lock(mutex_);
      paused_ack_ = true;
      wake_.wait(lock, [&] { return !paused_ || !running_; });
      continue;
    }
    try {
      consume_loop();
      continue;  // paused or stopping: no restart delay (upstream waits 3 s here)
    } catch (const BrokerConnectionError& e) {
      log::write(log::Level::Critical, logger_, "Consumer encountered a connection error: %s",
                 {std::string(e.what())});
    } catch (const std::exception& e) {
      log::write(log::Level::Critical, logger_,
                 std::string("Consumer encountered an unexpected error: ") + e.what());
    }
    if (running_) {
      log::write(log::Level::Info, logger_, "Restarting consumer in %0.2f seconds.",
                 {std::chrono::duration<double>(context_.restart_delay).count()});
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, context_.restart_delay, [&] { return !running_.load(); });
    }
  }
  broker.emit_before("before_consumer_thread_shutdown",
                     [&](Middleware& m) { m.before_consumer_thread_shutdown(broker, info_); });
  if (context_.hooks.on_stop) context_.hooks.on_stop();
}

void ConsumerThread::consume_loop() {
  auto session = std::make_shared<ConsumerSession>(
      context_.broker.consume_for_worker(queue_name_, prefetch_, context_.fetch_timeout), window_, logger_);
  // However the loop ends, this session fetches no more; what it delivered
  // is still settled through it.
  {
    std::lock_guard lock(mutex_);
    session_ = session;
  }
  struct Retire {
    ConsumerThread& thread;
    ConsumerSession& session;
    ~Retire() {
      {
        std::lock_guard lock(thread.mutex_);
        thread.session_.reset();
      }
      session.retire();
    }
  } retire{*this, *session};
  auto stop_waiting = [this] { return !should_run(); };
  while (should_run()) {
    if (window_->full()) {
      context_.work.wake_for_work();
      // Wait for acks (or a delayed message coming due) instead of fetching.
      window_->wait_for_room(std::chrono::steady_clock::now() + next_wait(), stop_waiting);
    } else {
      std::unique_lock fetching(fetch_mutex_);
      // A worker thread's fetch may have filled the window meanwhile.
      if (window_->full()) continue;
      auto message = session->consumer().next(next_wait());
      if (message) {
        WorkBatch batch(context_.work);
        handle_message(std::move(message), session);
        take_available(session);
      }
      fetching.unlock();
      // Wake worker threads once per fetched batch, not once per message.
      if (!session->consumer().has_buffered()) context_.work.wake_for_work();
    }
    handle_delayed_messages();
  }
}

bool ConsumerThread::fetch_for_worker() {
  // Only with at most half the window held: this thread then is not in its
  // window-full wait, so it still sees any delayed message fetched here
  // when its loop comes round.
  if (delay_) return false;
  std::unique_lock fetching(fetch_mutex_, std::try_to_lock);
  if (!fetching) return false;
  std::shared_ptr<ConsumerSession> session;
  {
    std::lock_guard lock(mutex_);
    if (!should_run()) return false;
    session = session_;
  }
  if (!session || !window_->half_free()) return false;
  std::shared_ptr<MessageProxy> message;
  try {
    message = session->consumer().next(std::chrono::milliseconds(0));
  } catch (const std::exception&) {
    return false;  // this thread meets the same error and handles it
  }
  if (!message) return false;
  WorkBatch batch(context_.work);
  handle_message(std::move(message), session);
  try {
    take_available(session);
  } catch (const std::exception&) {
    // What was taken is handled; the consumer thread meets the error.
  }
  return true;
}

void ConsumerThread::take_available(const std::shared_ptr<ConsumerSession>& session) {
  Consumer& consumer = session->consumer();
  const bool in_process = context_.broker.traits().hands_over_in_process;
  while (!window_->full() && (in_process || consumer.has_buffered())) {
    auto message = consumer.next(std::chrono::milliseconds(0));
    if (!message) return;
    handle_message(std::move(message), session);
  }
}

std::chrono::milliseconds ConsumerThread::next_wait() const {
  auto wait = context_.fetch_timeout;
  std::lock_guard lock(mutex_);
  if (!delayed_.empty()) {
    auto until_due = std::chrono::milliseconds(
        std::max<std::int64_t>(1, delayed_.top().eta - current_millis()));
    wait = std::min(wait, until_due);
  }
  return wait;
}

void ConsumerThread::reject_undeliverable(MessageProxy& message, ConsumerSession& session,
                                          const std::string& type_name, const std::string& reason) {
  message.fail();
  message.failure = Failure{type_name, reason, {}, nullptr, false, std::nullopt, false};
  session.settle(context_.broker, message);
  // A host view (a Python broker's own proxy) and the delivery keep each
  // other alive: let go of it once settled, as worker threads do.
  message.host_view.reset();
}

void ConsumerThread::handle_message(std::shared_ptr<MessageProxy> message,
                                    const std::shared_ptr<ConsumerSession>& session) {
  session->delivered();
  Broker& broker = context_.broker;
  if (message->decode_error) {
    log::write(log::Level::Error, logger_,
               "Received an undecodable message on queue " + quoted(queue_name_) +
                   ". Moving it to the DLQ. Reason: " + *message->decode_error);
    reject_undeliverable(*message, *session, "DecodeError", *message->decode_error);
    return;
  }
  Value& options = message->message.options;
  if (Value* eta = options.find("eta")) {
    if (eta->is_null() || broker.traits().schedules_delays) {
      // A broker that schedules delays delivers a message once it is due.
      options.erase("eta");
    } else if (!eta->is_int() && !eta->is_float()) {
      log::write(log::Level::Warning, logger_,
                 "Invalid eta value for message %r: %r. Setting eta to current_millis().",
                 {message->message.message_id, eta->is_string() ? eta->as_string() : to_json(*eta)});
      *eta = Value(current_millis());
    }
  }
  if (const Value* eta = options.find("eta")) {
    // Any producer's number: NaN is due now, and anything is clamped to
    // [0, the last millisecond of year 9999] so that the waits computed
    // from it cannot overflow.
    constexpr std::int64_t kLastDue = 253402300799999;
    std::int64_t due = eta->is_int() ? eta->as_int() : saturating_int64(eta->as_number(), current_millis());
    due = std::clamp<std::int64_t>(due, 0, kLastDue);
    try {
      broker.emit_before("before_delay_message",
                         [&](Middleware& m) { m.before_delay_message(broker, *message); });
    } catch (const std::exception& e) {
      log::write(log::Level::Error, logger_,
                 std::string("A delay_message hook rejected the message: ") + e.what());
    }
    std::lock_guard lock(mutex_);
    delayed_.push(DelayedItem{due, delayed_sequence_++, std::move(message), session});
    return;
  }
  message->actor = broker.find_actor(message->message.actor_name);
  if (!message->actor) {
    log::write(log::Level::Error, logger_, "Received message for undefined actor %r. Moving it to the DLQ.",
               {message->message.actor_name});
    reject_undeliverable(*message, *session, "ActorNotFound", message->message.actor_name);
    return;
  }
  int priority = message->actor->priority;
  context_.work.push(WorkItem{priority, std::move(message), session});
}

void ConsumerThread::handle_delayed_messages() {
  while (true) {
    DelayedItem due;
    {
      std::lock_guard lock(mutex_);
      if (delayed_.empty() || delayed_.top().eta > current_millis()) return;
      due = delayed_.top();
      delayed_.pop();
      moving_delayed_ += 1;
    }
    Message ready = due.message->message;
    ready.queue_name = canonical_queue_name(ready.queue_name);
    ready.options.erase("eta");
    try {
      due.source->move_due(context_.broker, *due.message, std::move(ready));
    } catch (const std::exception& e) {
      // Keep it and try again shortly rather than losing it.
      log::write(log::Level::Error, logger_,
                 std::string("Failed to move a delayed message to its queue: ") + e.what());
      std::lock_guard lock(mutex_);
      due.eta = current_millis() + 1000;
      due.sequence = delayed_sequence_++;
      delayed_.push(std::move(due));
      moving_delayed_ -= 1;
      return;
    }
    due.message->host_view.reset();
    // Worker::join() waits for this: the message is not done before its ack
    // (and the ack's hooks) are.
    std::lock_guard lock(mutex_);
    moving_delayed_ -= 1;
  }
}

void ConsumerThread::requeue_held() {
  std::vector<DelayedItem> held;
  {
    std::lock_guard lock(mutex_);
    while (!delayed_.empty()) {
      held.push_back(delayed_.top());
      delayed_.pop();
    }
  }
  // Each back through the session that delivered it, in eta order.
  std::vector<std::pair<std::shared_ptr<ConsumerSession>, std::vector<std::shared_ptr<MessageProxy>>>> batches;
  for (auto& item : held) {
    if (batches.empty() || batches.back().first != item.source) batches.push_back({item.source, {}});
    batches.back().second.push_back(std::move(item.message));
  }
  for (auto& [session, messages] : batches) session->requeue(messages);
}

}  // namespace dramatiq
