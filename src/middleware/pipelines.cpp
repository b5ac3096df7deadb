#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

void Pipelines::after_process_message(Broker& broker, MessageProxy& message, const Value* result,
                                      const Failure* failure) {
  if (failure || message.failed) return;
  const Value* target = message.message.options.find("pipe_target");
  if (!target || target->is_null()) return;
  auto actor = broker.actor_of(message);
  Message next = Message::from_value(*target);
  const Value* ignore = next.options.find("pipe_ignore");
  bool pipe_ignore = ignore && ignore->is_bool() && ignore->as_bool();
  if (!pipe_ignore) {
    const Value* actor_ignore = actor->options.find("pipe_ignore");
    pipe_ignore = actor_ignore && actor_ignore->is_bool() && actor_ignore->as_bool();
  }
  if (!pipe_ignore) next.args.as_array().push_back(result ? *result : Value());
  // A "delay" option on the next message is honoured by enqueue itself.
  broker.enqueue(std::move(next));
}

}  // namespace dramatiq
