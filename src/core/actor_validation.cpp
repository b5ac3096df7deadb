// Checks an actor before a broker declares it, so every front door (the C++
// API and the Python decorator) rejects the same mistakes with the same
// messages (upstream's, for the rules upstream has).
#include <stdexcept>

#include "dramatiq/actor.hpp"

namespace dramatiq {

void validate_actor(const Actor& actor, const std::set<std::string>& known_options) {
  if (actor.actor_name.empty()) throw std::invalid_argument("Actor names must not be empty.");
  if (!is_valid_queue_name(actor.queue_name)) {
    throw std::invalid_argument(
        "Queue names must start with a letter or an underscore followed "
        "by any number of letters, digits, dashes or underscores.");
  }
  if (!actor.options.is_object()) return;
  std::string unknown;
  for (const auto& [name, value] : actor.options.as_object()) {
    if (known_options.count(name)) continue;
    if (!unknown.empty()) unknown += ", ";
    unknown += name;
  }
  if (!unknown.empty()) {
    throw std::invalid_argument("The following actor options are undefined: " + unknown +
                                ". Did you forget to add a middleware to your Broker?");
  }
}

}  // namespace dramatiq
