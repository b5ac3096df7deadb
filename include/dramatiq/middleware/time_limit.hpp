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

}  // namespace dramatiq
