#include "schedule/scheduler.hpp"

#include <stdexcept>

#include "dramatiq/log.hpp"

namespace dramatiq::schedule {

namespace {

using namespace std::chrono;

constexpr const char* kLogger = "dramatiq.schedule.Scheduler";

std::int64_t millis_of(Seconds instant) { return duration_cast<milliseconds>(instant.time_since_epoch()).count(); }

Seconds seconds_of_millis(std::int64_t ms) { return Seconds(duration_cast<seconds>(milliseconds(ms))); }

}  // namespace

MissedTicks missed_ticks_named(std::string_view name) {
  if (name == "skip") return MissedTicks::kSkip;
  if (name == "run_once") return MissedTicks::kRunOnce;
  throw std::invalid_argument("missed ticks are \"skip\" or \"run_once\", not \"" + std::string(name) + "\"");
}

const char* missed_ticks_name(MissedTicks missed) { return missed == MissedTicks::kSkip ? "skip" : "run_once"; }

PeriodicTask periodic_task(std::string name, std::string_view expression, std::string_view zone,
                           std::string_view missed, std::string queue_name, std::string actor_name,
                           Value args, Value kwargs, Value options) {
  if (name.empty()) throw std::invalid_argument("a schedule's name must not be empty");
  if (actor_name.empty()) throw std::invalid_argument("a schedule needs an actor");
  return PeriodicTask{std::move(name),
                      CronSchedule::parse(expression),
                      load_time_zone(zone),
                      std::move(queue_name),
                      std::move(actor_name),
                      std::move(args),
                      std::move(kwargs),
                      std::move(options),
                      missed.empty() ? MissedTicks::kSkip : missed_ticks_named(missed)};
}

void validate_periodic_options(const Value& actor_options) {
  if (!actor_options.is_object()) return;
  if (const Value* expression = actor_options.find(kPeriodicOption); expression && expression->is_string()) {
    CronSchedule::parse(expression->as_string());
  }
  if (const Value* zone = actor_options.find(kPeriodicTimezoneOption); zone && !zone->is_null()) {
    if (!zone->is_string()) throw std::invalid_argument("periodic_timezone must be a time zone's name");
    load_time_zone(zone->as_string());
  }
  if (const Value* missed = actor_options.find(kPeriodicMissedOption); missed && !missed->is_null()) {
    if (!missed->is_string()) throw std::invalid_argument("periodic_missed must be \"skip\" or \"run_once\"");
    missed_ticks_named(missed->as_string());
  }
}

Scheduler::Scheduler(std::shared_ptr<Broker> broker, std::vector<PeriodicTask> tasks, Options options)
    : broker_(std::move(broker)), tasks_(std::move(tasks)), options_(options), next_(tasks_.size()) {
  if (!broker_->supports_ticks()) {
    throw std::invalid_argument("this broker cannot enqueue periodic ticks yet");
  }
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::initialize(Seconds now) {
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const PeriodicTask& task = tasks_[i];
    if (auto last = broker_->last_tick(task.name)) {
      next_[i] = task.schedule.next_after(seconds_of_millis(*last), *task.zone);
    } else {
      // A schedule new to this broker starts now: a tick at `now` is due.
      next_[i] = task.schedule.next_after(now - seconds(1), *task.zone);
    }
  }
  initialized_ = true;
}

Message Scheduler::tick_message(const PeriodicTask& task, std::int64_t tick_ms) const {
  Value options = task.options;
  options.set("periodic_tick", Value(tick_ms));
  return Message::create(task.queue_name, task.actor_name, task.args, task.kwargs, std::move(options));
}

std::vector<TickOutcome> Scheduler::run_due(Seconds now) {
  std::lock_guard pass(mutex_);
  if (!initialized_) initialize(now);
  std::vector<TickOutcome> outcomes;
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const PeriodicTask& task = tasks_[i];
    if (!next_[i] || *next_[i] > now) continue;
    // The latest tick due by now; those before it in this pass are missed.
    Seconds latest = *next_[i];
    std::size_t earlier = 0;
    if (now - latest > hours(24)) {
      // A long outage: count from a day back rather than tick by tick.
      if (auto recent = task.schedule.next_after(now - hours(24), *task.zone); recent && *recent <= now) {
        latest = *recent;
        earlier = 1;
      }
    }
    while (auto following = task.schedule.next_after(latest, *task.zone)) {
      if (*following > now) break;
      latest = *following;
      ++earlier;
    }
    TickOutcome outcome{task.name, millis_of(latest), false, earlier, {}};
    if (now - latest <= options_.grace || task.missed == MissedTicks::kRunOnce) {
      try {
        outcome.enqueued = broker_->enqueue_tick(task.name, outcome.tick_ms, tick_message(task, outcome.tick_ms));
      } catch (const std::exception& e) {
        outcome.error = e.what();
        log::write(log::Level::Error, kLogger,
                   "Could not enqueue the tick of schedule %r (tried again shortly): %s",
                   {task.name, std::string(e.what())});
        outcomes.push_back(std::move(outcome));
        continue;  // still due
      }
    } else {
      outcome.missed += 1;
    }
    if (outcome.missed > 0) {
      log::write(log::Level::Warning, kLogger, "Schedule %r missed %d tick(s) up to the one at %d ms.",
                 {task.name, static_cast<std::int64_t>(outcome.missed), outcome.tick_ms});
    }
    next_[i] = task.schedule.next_after(latest, *task.zone);
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

std::vector<Scheduler::ScheduleState> Scheduler::states(Seconds now) const {
  std::vector<ScheduleState> states;
  for (const auto& task : tasks_) {
    ScheduleState state{&task, broker_->last_tick(task.name), std::nullopt};
    Seconds after = now;
    if (state.last_tick_ms) after = std::max(after, seconds_of_millis(*state.last_tick_ms));
    if (auto next = task.schedule.next_after(after, *task.zone)) state.next_tick_ms = millis_of(*next);
    states.push_back(state);
  }
  return states;
}

std::optional<Seconds> Scheduler::next_due() const {
  std::lock_guard lock(mutex_);
  std::optional<Seconds> earliest;
  for (const auto& next : next_) {
    if (next && (!earliest || *next < *earliest)) earliest = next;
  }
  return earliest;
}

void Scheduler::start() {
  std::lock_guard lock(stop_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  std::thread thread;
  {
    std::lock_guard lock(stop_mutex_);
    thread.swap(thread_);
  }
  if (thread.joinable()) thread.join();
}

void Scheduler::run() {
  while (true) {
    auto now = floor<seconds>(system_clock::now());
    bool failed = false;
    try {
      for (const auto& outcome : run_due(Seconds(now))) failed = failed || !outcome.error.empty();
    } catch (const std::exception& e) {
      // Reading the last ticks failed (the broker unreachable at start).
      log::write(log::Level::Error, kLogger, "Could not read the schedules' last ticks (tried again shortly): %s",
                 {std::string(e.what())});
      failed = true;
    }
    auto wake_at = system_clock::time_point(now + seconds(60));
    if (auto next = next_due()) wake_at = std::min(wake_at, system_clock::time_point(*next));
    if (failed) wake_at = std::min(wake_at, system_clock::now() + options_.retry_delay);
    std::unique_lock lock(stop_mutex_);
    if (wake_.wait_until(lock, wake_at, [&] { return stopping_; })) return;
  }
}

}  // namespace dramatiq::schedule
