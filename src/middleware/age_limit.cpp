#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq {

void AgeLimit::before_process_message(Broker& broker, MessageProxy& message) {
  auto actor = broker.actor_of(message);
  Value limit = message_or_actor_option(message, *actor, "max_age", max_age);
  if (!limit.is_number() || limit.as_number() <= 0) return;
  // In double: a producer's timestamp may be anything in the 64-bit range.
  double age = static_cast<double>(current_millis()) - static_cast<double>(message.message.message_timestamp);
  if (age >= limit.as_number()) {
    log::write(log::Level::Warning, "dramatiq.middleware.age_limit.AgeLimit",
               "Message %r has exceeded its age limit.", {message.message.message_id});
    message.fail();
    throw SkipMessage("Message age limit exceeded");
  }
}

}  // namespace dramatiq
