// JSON text <-> Value, matching Python's json module byte for byte:
// write_json produces what `json.dumps(v, separators=(",", ":"))` produces
// (ensure_ascii, Python float repr, NaN/Infinity), and read_json accepts what
// `json.loads` accepts.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "dramatiq/value.hpp"

namespace dramatiq {

// A value that JSON cannot represent (a Foreign object). The message names
// the offending type, e.g. "Object of type CustomObject is not JSON serializable".
class JsonEncodeError : public std::runtime_error {
 public:
  explicit JsonEncodeError(const std::string& type_name);
  const std::string& offending_type() const { return type_; }

 private:
  std::string type_;
};

// Input that is not valid JSON (or not valid UTF-8, or nested too deeply).
class JsonDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends the compact JSON form of `value` to `out`.
void write_json(const Value& value, std::string& out);
std::string to_json(const Value& value);

// Parses one JSON document. Throws JsonDecodeError.
Value read_json(std::string_view text);

// Maximum nesting depth accepted by read_json (deeper input is rejected
// with a JsonDecodeError rather than risking stack exhaustion).
inline constexpr int kMaxJsonDepth = 512;

}  // namespace dramatiq
