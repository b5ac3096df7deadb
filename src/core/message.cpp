#include "dramatiq/message.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>

#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"

namespace dramatiq {

std::int64_t current_millis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Bumped in a child after fork(): the child must not repeat the ids its
// parent's generators are about to produce.
std::atomic<unsigned> fork_generation{0};

std::mt19937_64& id_generator() {
  // One generator per thread: ids are produced on hot paths from many
  // threads, and a shared generator would need a lock. Seeded with 256
  // random bits (one 32-bit seed would let two of a fleet's threads share
  // a sequence, and so their ids), and again in a forked child.
  static const bool at_fork_registered = pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
  static_cast<void>(at_fork_registered);
  struct Seeded {
    std::mt19937_64 engine;
    unsigned generation = ~0u;
  };
  thread_local Seeded generator;
  unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (generator.generation != generation) {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    generator.engine.seed(seed);
    generator.generation = generation;
  }
  return generator.engine;
}

}  // namespace

std::string generate_message_id() {
  std::mt19937_64& generator = id_generator();
  std::uint64_t hi = generator();
  std::uint64_t lo = generator();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t word, int nibbles, int from) {
    for (int i = 0; i < nibbles; ++i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      id[pos++] = kHex[(word >> (from - 4 * (i + 1))) & 0xF];
    }
  };
  put(hi, 16, 64);
  put(lo, 16, 64);
  return id;
}

static bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string delay_queue_name(std::string_view queue_name) {
  return canonical_queue_name(queue_name) + ".DQ";
}

std::string dead_letter_queue_name(std::string_view queue_name) {
  return canonical_queue_name(queue_name) + ".XQ";
}

std::string canonical_queue_name(std::string_view queue_name) {
  if (ends_with(queue_name, ".DQ") || ends_with(queue_name, ".XQ")) {
    queue_name.remove_suffix(3);
  }
  return std::string(queue_name);
}

bool is_delay_queue(std::string_view queue_name) { return ends_with(queue_name, ".DQ"); }

Message Message::create(std::string queue_name, std::string actor_name, Value args, Value kwargs,
                        Value options) {
  Message m;
  m.queue_name = std::move(queue_name);
  m.actor_name = std::move(actor_name);
  m.args = std::move(args);
  m.kwargs = std::move(kwargs);
  m.options = std::move(options);
  m.message_id = generate_message_id();
  m.message_timestamp = current_millis();
  return m;
}

Value Message::to_value() const {
  Object fields;
  fields.reserve(7);
  fields.emplace_back("queue_name", queue_name);
  fields.emplace_back("actor_name", actor_name);
  fields.emplace_back("args", args);
  fields.emplace_back("kwargs", kwargs);
  fields.emplace_back("options", options);
  fields.emplace_back("message_id", message_id);
  fields.emplace_back("message_timestamp", message_timestamp);
  return Value(std::move(fields));
}

namespace {
Value take_field(Object& fields, std::string_view name, Value::Kind kind, const char* expected,
                 bool required) {
  for (auto& [key, value] : fields) {
    if (key == name) {
      if (value.kind() != kind) {
        throw DecodeError("Failed to decode message: field '" + std::string(name) + "' must be " +
                          expected + ", not " + value.type_name());
      }
      return std::move(value);
    }
  }
  if (required) {
    throw DecodeError("Failed to decode message: missing field '" + std::string(name) + "'");
  }
  return Value();
}
}  // namespace

Message Message::from_value(Value fields) {
  if (!fields.is_object()) {
    throw DecodeError("Failed to decode message: expected a JSON object, got " + fields.type_name());
  }
  Object& object = fields.as_object();
  Message m;
  m.queue_name = take_field(object, "queue_name", Value::Kind::String, "a string", true).as_string();
  m.actor_name = take_field(object, "actor_name", Value::Kind::String, "a string", true).as_string();
  m.args = take_field(object, "args", Value::Kind::Array, "a list", true);
  m.kwargs = take_field(object, "kwargs", Value::Kind::Object, "a dict", true);
  m.options = take_field(object, "options", Value::Kind::Object, "a dict", true);
  Value id = take_field(object, "message_id", Value::Kind::String, "a string", false);
  m.message_id = id.is_null() ? generate_message_id() : id.as_string();
  // Upstream takes any number here (dramatiq-workflow writes
  // time.time() * 1000, a float): a float is kept to the millisecond.
  Value ts;
  for (auto& [key, value] : object) {
    if (key == "message_timestamp") ts = std::move(value);
  }
  if (ts.is_null()) {
    m.message_timestamp = current_millis();
  } else if (ts.is_int()) {
    m.message_timestamp = ts.as_int();
  } else if (ts.is_float() && std::isfinite(ts.as_number()) && std::fabs(ts.as_number()) < 9.2e18) {
    m.message_timestamp = static_cast<std::int64_t>(ts.as_number());
  } else {
    // A float out of range or an integer beyond 64 bits is named as such:
    // "must be a number, not int" would read as nonsense.
    std::string what = ts.is_float()                        ? "a non-finite or out-of-range float"
                       : ts.kind() == Value::Kind::BigInt ? "an integer outside the 64-bit range"
                                                           : ts.type_name();
    throw DecodeError("Failed to decode message: field 'message_timestamp' must be a number of "
                      "milliseconds, not " + what);
  }
  return m;
}

std::string Message::describe() const {
  // Built with append only: GCC 12 reports a false -Wrestrict for
  // `"<" + std::string(...)` chains.
  std::string out = actor_name;
  out += '(';
  bool first = true;
  auto put = [&](const Value& v) {
    if (v.is_foreign()) {
      out += '<';
      out += v.type_name();
      out += '>';
    } else {
      try {
        write_json(v, out);
      } catch (const std::exception&) {
        // A container holding a Foreign value (from a Python encoder): a
        // log line must never fail, so it is named like a Foreign value.
        out += v.is_array() ? "<list>" : "<dict>";
      }
    }
  };
  for (const auto& arg : args.as_array()) {
    if (!first) out += ", ";
    first = false;
    put(arg);
  }
  for (const auto& [key, value] : kwargs.as_object()) {
    if (!first) out += ", ";
    first = false;
    out += key;
    out += '=';
    put(value);
  }
  out += ')';
  return out;
}

}  // namespace dramatiq
