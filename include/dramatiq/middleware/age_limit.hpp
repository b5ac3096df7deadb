// AgeLimit: skips messages older than their max_age.
#pragma once

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Skips messages older than max_age ms.
class AgeLimit : public Middleware {
 public:
  explicit AgeLimit(Value max_age = Value()) : max_age(std::move(max_age)) {}
  std::string name() const override { return "AgeLimit"; }
  std::vector<std::string> actor_options() const override { return {"max_age"}; }
  void before_process_message(Broker&, MessageProxy&) override;
  Value max_age;
};

}  // namespace dramatiq
