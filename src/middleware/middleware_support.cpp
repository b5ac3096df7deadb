// Helpers shared by the built-in middleware.
#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

namespace {
// Python truthiness, which upstream's `a or b` option lookups rely on.
bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Null: return false;
    case Value::Kind::Bool: return v.as_bool();
    case Value::Kind::Int: return v.as_int() != 0;
    case Value::Kind::Float: return v.as_float() != 0.0;
    case Value::Kind::String: return !v.as_string().empty();
    case Value::Kind::Array: return !v.as_array().empty();
    case Value::Kind::Object: return !v.as_object().empty();
    default: return true;
  }
}
}  // namespace

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
