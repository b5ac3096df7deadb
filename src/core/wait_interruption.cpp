#include "dramatiq/wait_interruption.hpp"

namespace dramatiq {

namespace {
thread_local const InterruptibleWaits* current_scope = nullptr;
}  // namespace

InterruptibleWaits::InterruptibleWaits(std::function<bool()> keep_waiting, std::chrono::milliseconds interval)
    : keep_waiting_(std::move(keep_waiting)), interval_(interval), outer_(current_scope) {
  current_scope = this;
}

InterruptibleWaits::~InterruptibleWaits() { current_scope = outer_; }

const InterruptibleWaits* InterruptibleWaits::current() { return current_scope; }

void InterruptibleWaits::check() const {
  if (keep_waiting_ && !keep_waiting_()) throw WaitInterrupted();
}

}  // namespace dramatiq
