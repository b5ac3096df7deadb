// Actors: named functions bound to a queue.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "dramatiq/message_proxy.hpp"
#include "dramatiq/value.hpp"

namespace dramatiq {

// The code an actor runs. Implemented in C++ by FunctionBody, and by the
// Python bindings for Python functions.
class ActorBody {
 public:
  virtual ~ActorBody() = default;
  // Runs the actor for `message`; returns its result. Throws on failure.
  virtual Value run(MessageProxy& message) = 0;
};

// An actor body backed by a C++ callable.
class FunctionBody : public ActorBody {
 public:
  using Function = std::function<Value(const Array& args, const Object& kwargs)>;
  explicit FunctionBody(Function fn) : fn_(std::move(fn)) {}
  Value run(MessageProxy& message) override {
    return fn_(message.message.args.as_array(), message.message.kwargs.as_object());
  }

 private:
  Function fn_;
};

struct Actor {
  std::string actor_name;
  std::string queue_name = "default";
  int priority = 0;          // lower runs first
  Value options = Value::object();  // actor-level options (max_retries, ...)
  std::shared_ptr<ActorBody> body;
  ForeignPtr host_actor;     // the Python Actor object, if any
};

// Valid queue names match [a-zA-Z_][a-zA-Z0-9._-]*, as upstream checks.
bool is_valid_queue_name(const std::string& name);

// Throws std::invalid_argument (with upstream's messages) when `actor` has no
// name, an invalid queue name, or an option outside `known_options` (those
// the broker's middleware declare). Broker::declare_actor calls it.
void validate_actor(const Actor& actor, const std::set<std::string>& known_options);

}  // namespace dramatiq
