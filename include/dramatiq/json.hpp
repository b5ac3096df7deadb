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
  JsonEncodeError(const std::string& type_name, const std::string& reason);
  const std::string& offending_type() const { return type_; }

 private:
  std::string type_;
};

// A value nested deeper than kMaxJsonDepth: json.dumps raises
// RecursionError for it, and so does the Python front door.
class JsonNestingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input that is not valid JSON (or not valid UTF-8, or nested too deeply).
class JsonDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends the compact JSON form of `value` to `out`. Throws
// JsonEncodeError (a Foreign value) or JsonNestingError. `enclosing_depth`
// counts the containers the caller has already opened around `value` in the
// same document (a message's args sit inside its envelope object), so the
// limit is the whole document's, as read_json counts it.
void write_json(const Value& value, std::string& out, int enclosing_depth = 0);
std::string to_json(const Value& value);

// Parses one JSON document. Throws JsonDecodeError.
Value read_json(std::string_view text);

// The one nesting limit of JSON documents, for writing and reading alike,
// so that whatever write_json produces read_json accepts: arrays and objects
// nested up to this many levels (counting the outermost) are accepted;
// deeper ones are a JsonNestingError when writing, a JsonDecodeError when
// reading (never a stack overflow). Python's json module stops at its
// recursion limit (1000 by default, less the frames already on the stack:
// 993 from a fresh interpreter), so 1000 accepts everything upstream
// Dramatiq writes or reads.
inline constexpr int kMaxJsonDepth = 1000;

}  // namespace dramatiq
