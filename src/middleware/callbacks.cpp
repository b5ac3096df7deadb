#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"

namespace dramatiq {

void Callbacks::after_process_message(Broker& broker, MessageProxy& message, const Value* result,
                                      const Failure* failure) {
  auto actor = broker.actor_of(message);
  Value target = message_or_actor_option(message, *actor, failure ? "on_failure" : "on_success",
                                         Value());
  if (!target.is_string()) return;
  auto callback = broker.get_actor(target.as_string());
  if (!failure) {
    send_to_actor(broker, *callback, Array{message.message.to_value(), result ? *result : Value()});
  } else {
    Object details{{"type", failure->type_name}, {"message", failure->message}};
    send_to_actor(broker, *callback, Array{message.message.to_value(), Value(std::move(details))});
  }
}

}  // namespace dramatiq
