#pragma once

#include "dramatiq/actor.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

// Runs a Python function as an actor body.
class PyActorBody : public ActorBody {
 public:
  explicit PyActorBody(nb::object function) : function_(std::move(function)) {}
  ~PyActorBody() override;
  Value run(MessageProxy& message) override;
  // Replaces the function (call with the GIL held: run() reads it under
  // the GIL). Plugins wrap an actor's fn after it is declared.
  void set_function(nb::object function) { function_ = std::move(function); }

 private:
  nb::object function_;
};

}  // namespace dramatiq::python
