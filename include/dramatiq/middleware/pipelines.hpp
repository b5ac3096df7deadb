// Pipelines: the next message of a pipeline, fed the result.
#pragma once

#include "dramatiq/middleware.hpp"

namespace dramatiq {

// Enqueues the next message of a pipeline (pipe_target), feeding it the result.
class Pipelines : public Middleware {
 public:
  std::string name() const override { return "Pipelines"; }
  std::vector<std::string> actor_options() const override { return {"pipe_ignore", "pipe_target"}; }
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;
};

}  // namespace dramatiq
