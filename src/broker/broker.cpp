#include "dramatiq/broker.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "core/saturating.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "schedule/scheduler.hpp"

namespace dramatiq {

void Broker::add_middleware(std::shared_ptr<Middleware> middleware,
                            std::optional<std::size_t> index) {
  std::vector<std::shared_ptr<Actor>> actors;
  std::set<std::string> queues, delay_queues;
  {
    std::unique_lock lock(mutex_);
    auto list = std::make_shared<MiddlewareList>(*middleware_.load());
    if (index && *index <= list->size()) {
      list->insert(list->begin() + static_cast<std::ptrdiff_t>(*index), middleware);
    } else {
      list->push_back(middleware);
    }
    keeps_results_ = std::any_of(list->begin(), list->end(),
                                 [](const auto& m) { return m->keeps_results(); });
    middleware_.store(std::move(list));
    for (auto& [name, actor] : actors_) actors.push_back(actor);
  }
  // Through the virtuals (outside the lock): a host-language broker keeps
  // its own queue lists.
  queues = get_declared_queues();
  delay_queues = get_declared_delay_queues();
  if (traits_.lists_delay_queues_as_queues) queues.insert(delay_queues.begin(), delay_queues.end());
  // Replay what was declared before this middleware arrived.
  for (auto& actor : actors) middleware->after_declare_actor(*this, *actor);
  for (auto& q : queues) middleware->after_declare_queue(*this, q);
  for (auto& q : delay_queues) middleware->after_declare_delay_queue(*this, q);
}

void Broker::set_middleware(MiddlewareList middleware) {
  std::unique_lock lock(mutex_);
  keeps_results_ = std::any_of(middleware.begin(), middleware.end(),
                               [](const auto& m) { return m->keeps_results(); });
  middleware_.store(std::make_shared<const MiddlewareList>(std::move(middleware)));
}

std::set<std::string> Broker::actor_options() const {
  std::set<std::string> options;
  for (auto& m : *middleware()) {
    for (auto& option : m->actor_options()) options.insert(option);
  }
  return options;
}

void Broker::declare_actor(std::shared_ptr<Actor> actor) {
  // A schedule's options belong to no middleware: every broker's actors
  // may be periodic.
  std::set<std::string> known = actor_options();
  known.insert({schedule::kPeriodicOption, schedule::kPeriodicTimezoneOption, schedule::kPeriodicMissedOption});
  validate_actor(*actor, known);
  schedule::validate_periodic_options(actor->options);
  emit_before("before_declare_actor", [&](Middleware& m) { m.before_declare_actor(*this, *actor); });
  declare_queue(actor->queue_name);
  {
    std::unique_lock lock(mutex_);
    actors_[actor->actor_name] = actor;
  }
  emit_after("after_declare_actor", [&](Middleware& m) { m.after_declare_actor(*this, *actor); });
}

std::shared_ptr<Actor> Broker::find_actor(const std::string& actor_name) const {
  std::shared_lock lock(mutex_);
  auto it = actors_.find(actor_name);
  return it == actors_.end() ? nullptr : it->second;
}

std::shared_ptr<Actor> Broker::get_actor(const std::string& actor_name) const {
  auto actor = find_actor(actor_name);
  if (!actor) throw ActorNotFound(actor_name);
  return actor;
}

std::vector<std::string> Broker::get_declared_actors() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (auto& [name, actor] : actors_) names.push_back(name);
  return names;
}

void Broker::declare_queue(const std::string& queue_name) {
  {
    std::shared_lock lock(mutex_);
    if (queues_.count(queue_name)) return;
  }
  emit_before("before_declare_queue", [&](Middleware& m) { m.before_declare_queue(*this, queue_name); });
  // A broker that keeps delayed messages itself has no delay queues.
  std::optional<std::string> delay_name;
  if (!traits_.schedules_delays) delay_name = delay_queue_name(queue_name);
  {
    std::unique_lock lock(mutex_);
    if (queues_.count(queue_name)) return;  // declared concurrently
    do_declare_queue(queue_name);
    if (delay_name) do_declare_queue(*delay_name);
    queues_.insert(queue_name);
    if (delay_name) delay_queues_.insert(*delay_name);
  }
  emit_after("after_declare_queue", [&](Middleware& m) { m.after_declare_queue(*this, queue_name); });
  if (delay_name) {
    emit_after("after_declare_delay_queue",
               [&](Middleware& m) { m.after_declare_delay_queue(*this, *delay_name); });
  }
  announce_queue(queue_name);
}

void Broker::announce_queue(const std::string& queue_name) {
  std::vector<QueueListener> listeners;
  {
    std::shared_lock lock(mutex_);
    for (auto& [id, listener] : queue_listeners_) listeners.push_back(listener);
  }
  for (auto& listener : listeners) listener(queue_name);
}

std::set<std::string> Broker::get_declared_queues() const {
  std::shared_lock lock(mutex_);
  return queues_;
}

std::set<std::string> Broker::get_declared_delay_queues() const {
  std::shared_lock lock(mutex_);
  return delay_queues_;
}

Delay Broker::prepare_for_enqueue(Message& message, Delay delay) {
  // A "delay" option (set by message_with_options, copy or batch helpers)
  // delays the message when no explicit delay is given. It is consumed here
  // either way, so moving the message back from the delay queue, or
  // retrying it, never applies it again.
  if (const Value* option = message.options.find("delay"); option && option->is_number()) {
    if (!delay) delay = static_cast<std::int64_t>(option->as_number());
    message.options.erase("delay");
  }
  std::string queue_name = canonical_queue_name(message.queue_name);
  bool declared;
  {
    std::shared_lock lock(mutex_);
    declared = queues_.count(queue_name) > 0;
  }
  if (!declared) {
    if (!is_valid_queue_name(queue_name)) throw QueueNotFound(queue_name);
    declare_queue(queue_name);
  }
  stamp_message(message);
  if (delay) {
    if (!traits_.schedules_delays) message.queue_name = delay_queue_name(queue_name);
    message.options.set("eta", saturating_add(current_millis(), *delay));
  }
  return delay;
}

Message Broker::enqueue(Message message, Delay delay) {
  if (auto host = host_enqueue_.load()) return (*host)(std::move(message), delay);
  return enqueue_here(std::move(message), delay);
}

void Broker::set_host_enqueue(HostEnqueue host_enqueue) {
  host_enqueue_.store(host_enqueue ? std::make_shared<const HostEnqueue>(std::move(host_enqueue)) : nullptr);
}

Message Broker::enqueue_here(Message message, Delay delay) {
  delay = prepare_for_enqueue(message, delay);
  emit_before("before_enqueue", [&](Middleware& m) { m.before_enqueue(*this, message, delay); });
  do_enqueue(message.queue_name, message);
  emit_after("after_enqueue", [&](Middleware& m) { m.after_enqueue(*this, message, delay); });
  return message;
}

bool Broker::enqueue_tick(const std::string& schedule_name, std::int64_t tick_ms, Message message) {
  Delay delay = prepare_for_enqueue(message, std::nullopt);
  emit_before("before_enqueue", [&](Middleware& m) { m.before_enqueue(*this, message, delay); });
  if (!do_enqueue_tick(schedule_name, tick_ms, message)) return false;
  emit_after("after_enqueue", [&](Middleware& m) { m.after_enqueue(*this, message, delay); });
  return true;
}

bool Broker::do_enqueue_tick(const std::string& /*schedule_name*/, std::int64_t /*tick_ms*/,
                             const Message& /*message*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot enqueue periodic ticks yet");
}

void Broker::cancel(const std::string& message_id, std::chrono::milliseconds ttl) {
  if (message_id.empty()) throw std::invalid_argument("a message id to cancel must not be empty");
  if (ttl.count() <= 0) throw std::invalid_argument("a cancellation's ttl must be positive");
  do_cancel(message_id, saturating_add(current_millis(), static_cast<std::int64_t>(ttl.count())));
}

void Broker::do_cancel(const std::string& /*message_id*/, std::int64_t /*expires_ms*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot cancel messages yet");
}

std::unique_ptr<CancellationWatch> Broker::watch_cancellations(CancellationCallback /*callback*/) { return nullptr; }

QueueCounts Broker::queue_counts(const std::string& /*queue_name*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot count its queues' messages by state");
}

std::vector<StoredMessage> Broker::list_messages(const std::string& /*queue_name*/, std::size_t /*limit*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot list its queues' messages");
}

std::vector<WorkerRecord> Broker::list_worker_records() {
  throw std::logic_error(std::string(logger_name()) + " keeps no worker records");
}

std::vector<StoredDeadLetter> Broker::list_dead_letters(const std::string& /*queue_name*/, std::size_t /*limit*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot list its dead letters");
}

std::size_t Broker::requeue_dead_letters(const std::string& /*queue_name*/, const std::vector<std::string>& /*ids*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot requeue its dead letters");
}

std::size_t Broker::delete_dead_letters(const std::string& /*queue_name*/, const std::vector<std::string>& /*ids*/) {
  throw std::logic_error(std::string(logger_name()) + " cannot delete its dead letters");
}

Message Broker::enqueue_stored_by(Message message, const StoreStep& store) {
  Delay delay = prepare_for_enqueue(message, std::nullopt);
  emit_before("before_enqueue", [&](Middleware& m) { m.before_enqueue(*this, message, delay); });
  store(message);
  emit_after("after_enqueue", [&](Middleware& m) { m.after_enqueue(*this, message, delay); });
  return message;
}

std::vector<Message> Broker::enqueue_all(std::vector<Message> messages, Delay delay) {
  std::vector<Delay> delays;
  std::exception_ptr rejected;
  for (auto& message : messages) {
    try {
      Delay applied = prepare_for_enqueue(message, delay);
      emit_before("before_enqueue", [&](Middleware& m) { m.before_enqueue(*this, message, applied); });
      delays.push_back(applied);
    } catch (...) {
      rejected = std::current_exception();
      break;
    }
  }
  messages.resize(delays.size());
  if (!messages.empty()) do_enqueue_all(messages);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    emit_after("after_enqueue",
               [&](Middleware& m) { m.after_enqueue(*this, messages[i], delays[i]); });
  }
  if (rejected) std::rethrow_exception(rejected);
  return messages;
}

void Broker::do_enqueue_all(const std::vector<Message>& messages) {
  for (const auto& message : messages) do_enqueue(message.queue_name, message);
}

bool Broker::join(const std::string& queue_name, const JoinOptions& options,
                  std::shared_ptr<MessageProxy>* first_dead) {
  using Clock = std::chrono::steady_clock;
  std::string base = canonical_queue_name(queue_name);
  auto deadline = options.timeout ? Clock::now() + *options.timeout : Clock::time_point::max();
  while (true) {
    if (count_unfinished(base) == 0) {
      // As upstream: a dead letter is reported once the queue is finished.
      if (options.fail_fast && first_dead) *first_dead = first_dead_letter(base);
      return true;
    }
    auto now = Clock::now();
    if (now >= deadline) return false;
    // Bounded slices: a broker's wait never has to handle "forever".
    wait_for_settlement(base, std::min(deadline, now + std::chrono::seconds(1)), options.poll_interval);
  }
}

void Broker::wait_for_settlement(const std::string& /*queue_name*/,
                                 std::chrono::steady_clock::time_point deadline,
                                 std::chrono::milliseconds poll_interval) {
  auto wake = std::chrono::steady_clock::now() + std::max(poll_interval, std::chrono::milliseconds(1));
  std::this_thread::sleep_until(std::min(wake, deadline));
}

std::size_t Broker::add_queue_listener(QueueListener listener) {
  std::unique_lock lock(mutex_);
  std::size_t id = next_listener_id_++;
  queue_listeners_[id] = std::move(listener);
  return id;
}

void Broker::remove_queue_listener(std::size_t id) {
  std::unique_lock lock(mutex_);
  queue_listeners_.erase(id);
}

void Broker::log_hook_failure(const char* signal, const Middleware& m,
                              std::exception_ptr error) const {
  Failure failure = Failure::from_exception(error);
  log::write(log::Level::Critical, logger_name(), "Unexpected failure in %s of %r.",
             {std::string(signal), m.name()}, &failure);
}

}  // namespace dramatiq
