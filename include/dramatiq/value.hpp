// A dynamically typed value: the engine's representation of message
// arguments, keyword arguments, options and actor results.
//
// It models exactly what JSON (as Python's json module reads and writes it)
// can carry, plus `Foreign`: an opaque handle to an object owned by a host
// language (e.g. a Python object that only a Python encoder can serialize).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dramatiq {

// An object owned by a host language (Python). The engine never looks
// inside; it only carries it and asks for its type name in error messages.
class Value;
using Array = std::vector<Value>;
class ForeignObject {
 public:
  virtual ~ForeignObject() = default;
  virtual std::string type_name() const = 0;
  // For host exceptions: whether this is an instance of `classes` (a host
  // class or tuple of classes).
  virtual bool is_instance_of(const ForeignObject& /*classes*/) const { return false; }
  // For host callables: calls it with positional arguments.
  virtual Value call(const Array& args) const;
  // Why this object has no JSON form when the host said so (a host
  // container that holds itself); empty for an object JSON has no type for.
  virtual std::string json_refusal() const { return {}; }
};

// Integers that do not fit in 64 bits, kept as their decimal digits.
struct BigInt {
  std::string digits;  // e.g. "-123456789012345678901234567890"
  bool operator==(const BigInt&) const = default;
};

// Insertion-ordered, like a Python dict: JSON output keeps key order.
using Object = std::vector<std::pair<std::string, Value>>;
using ForeignPtr = std::shared_ptr<ForeignObject>;

class Value {
 public:
  enum class Kind { Null, Bool, Int, BigInt, Float, String, Array, Object, Foreign };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : data_(b) {}
  Value(int i) : data_(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : data_(i) {}
  Value(double d) : data_(d) {}
  Value(BigInt b) : data_(std::move(b)) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(Array a) : data_(std::move(a)) {}
  Value(Object o) : data_(std::move(o)) {}
  Value(ForeignPtr f) : data_(std::move(f)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_null() const { return kind() == Kind::Null; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float() || kind() == Kind::BigInt; }
  bool is_string() const { return kind() == Kind::String; }
  bool is_array() const { return kind() == Kind::Array; }
  bool is_object() const { return kind() == Kind::Object; }
  bool is_foreign() const { return kind() == Kind::Foreign; }

  bool as_bool() const { return std::get<bool>(data_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  // Int or Float as a double (BigInt is converted approximately).
  double as_number() const;
  const BigInt& as_bigint() const { return std::get<BigInt>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  std::string& as_string() { return std::get<std::string>(data_); }
  const Array& as_array() const { return std::get<Array>(data_); }
  Array& as_array() { return std::get<Array>(data_); }
  const Object& as_object() const { return std::get<Object>(data_); }
  Object& as_object() { return std::get<Object>(data_); }
  const ForeignPtr& as_foreign() const { return std::get<ForeignPtr>(data_); }

  // Object helpers (linear scans: option dicts are small).
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Sets key (keeping its position if present, appending otherwise).
  void set(std::string_view key, Value value);
  bool erase(std::string_view key);
  // Int value of `key`, or `fallback` when missing / not a number.
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;

  // Python-style type name ("int", "str", "dict", ...) for error messages.
  std::string type_name() const;

  bool operator==(const Value& other) const;

 private:
  std::variant<std::monostate, bool, std::int64_t, BigInt, double, std::string, Array, Object,
               ForeignPtr>
      data_;
};

// Python truthiness, which upstream's `a or b` / `if x:` option checks rely on.
bool truthy(const Value& v);

}  // namespace dramatiq
