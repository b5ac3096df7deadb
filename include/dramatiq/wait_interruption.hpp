// Lets the thread that makes a blocking engine call cut the engine's
// network waits short: how Ctrl-C interrupts a Python `send` stuck on a
// server that does not answer. Without a scope, waits are unchanged.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>

namespace dramatiq {

// Thrown out of a wait when the scope's check said to stop waiting. The
// connection that was waiting is left broken (what it sent may or may not
// have been done), never reused.
class WaitInterrupted : public std::runtime_error {
 public:
  WaitInterrupted() : std::runtime_error("the wait was interrupted") {}
};

// While alive, network waits on this thread last at most `interval` at a
// time and call `keep_waiting` between them (on this thread); when it
// answers false they throw WaitInterrupted. Scopes nest: the innermost wins.
class InterruptibleWaits {
 public:
  InterruptibleWaits(std::function<bool()> keep_waiting, std::chrono::milliseconds interval);
  ~InterruptibleWaits();
  InterruptibleWaits(const InterruptibleWaits&) = delete;
  InterruptibleWaits& operator=(const InterruptibleWaits&) = delete;

  // The scope in force on this thread, or null.
  static const InterruptibleWaits* current();
  std::chrono::milliseconds interval() const { return interval_; }
  // Throws WaitInterrupted if the wait should stop.
  void check() const;

 private:
  std::function<bool()> keep_waiting_;
  std::chrono::milliseconds interval_;
  const InterruptibleWaits* outer_;
};

}  // namespace dramatiq
