// The scheduler: enqueues periodic actors' messages at their ticks.
//
// Any number of schedulers may run on one broker (the worker command's
// main process on every host): each tick is enqueued exactly once among
// them, by Broker::enqueue_tick, which stores the message only if the
// tick is later than the schedule's last tick recorded in the broker.
// No leader is elected, so none has to be failed over: when one scheduler
// stops, the others go on enqueueing the same ticks.
//
// Ticks the scheduler reaches late: one due less than `grace` ago fires
// (at most one per schedule per pass: older ones due in the same pass are
// missed). Missed ticks, e.g. while every scheduler was down, follow the
// schedule's policy: kSkip drops them, kRunOnce fires the latest of them
// once, at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dramatiq/broker.hpp"
#include "schedule/cron.hpp"

namespace dramatiq::schedule {

enum class MissedTicks { kSkip, kRunOnce };

// The actor options a schedule is declared with: the cron expression, the
// time zone it is read in (an IANA name, "UTC" by default) and what
// becomes of missed ticks ("skip", the default, or "run_once").
inline constexpr const char* kPeriodicOption = "periodic";
inline constexpr const char* kPeriodicTimezoneOption = "periodic_timezone";
inline constexpr const char* kPeriodicMissedOption = "periodic_missed";

// "skip" or "run_once"; throws std::invalid_argument for anything else.
MissedTicks missed_ticks_named(std::string_view name);
const char* missed_ticks_name(MissedTicks missed);

struct PeriodicTask {
  std::string name;  // unique per broker: the schedule's record (an actor's name by default)
  CronSchedule schedule;
  std::shared_ptr<const TimeZone> zone = utc_zone();
  std::string queue_name;
  std::string actor_name;
  Value args = Value::array();
  Value kwargs = Value::object();
  Value options = Value::object();
  MissedTicks missed = MissedTicks::kSkip;
};

// A PeriodicTask from the words users write: throws std::invalid_argument
// saying what is wrong (the expression, the zone, the policy, an empty
// name or actor).
PeriodicTask periodic_task(std::string name, std::string_view expression, std::string_view zone,
                           std::string_view missed, std::string queue_name, std::string actor_name,
                           Value args, Value kwargs, Value options);

// Checks the schedule options of an actor's options, as periodic_task
// would (a `periodic` value that is not text is left to its owner: a
// plugin's own schedule object).
void validate_periodic_options(const Value& actor_options);

// What a pass did with one schedule.
struct TickOutcome {
  std::string name;
  std::int64_t tick_ms = 0;
  bool enqueued = false;  // false: another scheduler had enqueued it
  std::size_t missed = 0;  // ticks up to it that were not enqueued
  std::string error;       // why the broker refused it (it stays due)
};

class Scheduler {
 public:
  struct Options {
    std::chrono::seconds grace{5};
    // After a failed enqueue (the broker unreachable) the tick is tried
    // again this much later.
    std::chrono::milliseconds retry_delay{1000};
  };

  Scheduler(std::shared_ptr<Broker> broker, std::vector<PeriodicTask> tasks, Options options);
  Scheduler(std::shared_ptr<Broker> broker, std::vector<PeriodicTask> tasks)
      : Scheduler(std::move(broker), std::move(tasks), Options{}) {}
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One pass at `now`: reads the schedules' last ticks from the broker the
  // first time, then enqueues what is due. Throws what the broker throws
  // (the tick stays due). For the thread below, and for tests that drive
  // time themselves.
  std::vector<TickOutcome> run_due(Seconds now);
  // The earliest tick not yet passed (nullopt: no schedule ticks again).
  std::optional<Seconds> next_due() const;

  // A thread that runs passes on the system clock until stop().
  void start();
  void stop();

  const std::vector<PeriodicTask>& tasks() const { return tasks_; }

  // Each schedule's last tick recorded in the broker and its next tick
  // after `now` (or after the last tick, if that is later), for listings.
  struct ScheduleState {
    const PeriodicTask* task;
    std::optional<std::int64_t> last_tick_ms;
    std::optional<std::int64_t> next_tick_ms;
  };
  std::vector<ScheduleState> states(Seconds now) const;

 private:
  void run();
  void initialize(Seconds now);
  Message tick_message(const PeriodicTask& task, std::int64_t tick_ms) const;

  std::shared_ptr<Broker> broker_;
  std::vector<PeriodicTask> tasks_;
  const Options options_;
  mutable std::mutex mutex_;  // held through a pass: next_, initialized_
  std::vector<std::optional<Seconds>> next_;
  bool initialized_ = false;
  std::mutex stop_mutex_;  // stopping_, thread_: never held across a broker call
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dramatiq::schedule
