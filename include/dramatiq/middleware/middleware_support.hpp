// Helpers the built-in middleware share.
#pragma once

#include "dramatiq/broker.hpp"

namespace dramatiq {

// Sends a message to `actor` with positional `args`, through the usual
// enqueue hooks (what `actor.send(*args)` does).
Message send_to_actor(Broker& broker, const Actor& actor, Array args);

// Option lookup in upstream's order: the message's option when truthy, else
// the actor's option when present, else `fallback`.
Value message_or_actor_option(const MessageProxy& message, const Actor& actor,
                              std::string_view name, Value fallback);

}  // namespace dramatiq
