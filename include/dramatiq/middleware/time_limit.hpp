// TimeLimit: interrupts actors that run past their time_limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "dramatiq/interrupt.hpp"
#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Interrupts actors running longer than time_limit ms.
class TimeLimit : public Middleware {
 public:
  static constexpr std::int64_t kDefaultTimeLimit = 600000;  // ms: 10 minutes
  static constexpr std::int64_t kDefaultInterval = 1000;     // ms between checks
  explicit TimeLimit(Value time_limit = Value(kDefaultTimeLimit), std::int64_t interval = kDefaultInterval);
  ~TimeLimit() override;
  std::string name() const override { return "TimeLimit"; }
  std::vector<std::string> actor_options() const override { return {"time_limit"}; }
  void after_process_boot(Broker&) override { start_monitor(); }
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;

  using Deadlines = std::map<ThreadId, std::chrono::steady_clock::time_point>;
  // Interrupts, once, every thread whose deadline has passed (the monitor
  // thread calls it every `interval` ms).
  void check_deadlines();
  // The running actors' deadlines by thread; replacing them is for hosts
  // that show this state (Python's `manager.deadlines`).
  Deadlines deadlines() const;
  void set_deadlines(Deadlines deadlines);

  Value time_limit;
  std::int64_t interval;

 private:
  void start_monitor();
  void monitor();
  mutable std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread monitor_;
  Deadlines deadlines_;
};

}  // namespace dramatiq
