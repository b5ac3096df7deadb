// CurrentMessage: the message being processed, for the code running it.
#pragma once

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Makes the message being processed available to the code running it.
class CurrentMessage : public Middleware {
 public:
  std::string name() const override { return "CurrentMessage"; }
  void before_process_message(Broker&, MessageProxy&) override;
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
  void after_skip_message(Broker&, MessageProxy&) override;
  // The message this thread is processing, or nullptr: this_message::get(),
  // which the worker publishes whether or not this middleware is there.
  static MessageProxy* current();
};

}  // namespace dramatiq
