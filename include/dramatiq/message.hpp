// The unit of work: which actor to run, with which arguments and options.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dramatiq/value.hpp"

namespace dramatiq {

// Milliseconds since the Unix epoch (wall clock), as message timestamps use.
std::int64_t current_millis();
// A fresh random (version 4) UUID string, as message ids use.
std::string generate_message_id();

// Queue-name helpers: "q" <-> "q.DQ" (delay queue) and "q.XQ" (dead letters).
std::string delay_queue_name(std::string_view queue_name);
std::string dead_letter_queue_name(std::string_view queue_name);
// The canonical queue name: strips a trailing ".DQ" or ".XQ".
std::string canonical_queue_name(std::string_view queue_name);
bool is_delay_queue(std::string_view queue_name);

// A message as it travels on the wire. `args` is an Array, `kwargs` and
// `options` are Objects. Unknown options are carried untouched.
struct Message {
  std::string queue_name;
  std::string actor_name;
  Value args = Value::array();
  Value kwargs = Value::object();
  Value options = Value::object();
  std::string message_id;
  std::int64_t message_timestamp = 0;

  // A new message with a generated id and the current timestamp.
  static Message create(std::string queue_name, std::string actor_name, Value args, Value kwargs,
                        Value options);

  // The dictionary form, keys in wire order (what encoders serialize).
  Value to_value() const;
  // Validates field presence and types; throws DecodeError naming the
  // offending field when the dictionary is not a message.
  static Message from_value(Value fields);

  // Human-readable form "actor_name(1, 'a', x=2)" (args printed as JSON).
  std::string describe() const;
};

}  // namespace dramatiq
