// Callbacks: on_success / on_failure messages.
#pragma once

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Sends on_success / on_failure callback messages.
class Callbacks : public Middleware {
 public:
  std::string name() const override { return "Callbacks"; }
  std::vector<std::string> actor_options() const override { return {"on_failure", "on_success"}; }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
};

}  // namespace dramatiq
