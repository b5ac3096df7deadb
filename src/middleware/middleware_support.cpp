// Helpers shared by the built-in middleware.
#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

Value message_or_actor_option(const MessageProxy& message, const Actor& actor,
                              std::string_view name, Value fallback) {
  if (const Value* v = message.message.options.find(name); v && truthy(*v)) return *v;
  if (const Value* v = actor.options.find(name)) return *v;
  return fallback;
}

Message send_to_actor(Broker& broker, const Actor& actor, Array args) {
  return broker.enqueue(Message::create(actor.queue_name, actor.actor_name, Value(std::move(args)),
                                        Value::object(), Value::object()));
}

}  // namespace dramatiq
