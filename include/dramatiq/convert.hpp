// Converting between C++ values and the engine's Value (a message's JSON):
// how typed actors read their arguments and write their results.
//
// Built in: bool, the integer types, float and double, std::string, Value
// itself, std::vector<T>, std::map<std::string, T> and std::optional<T> of
// any convertible T. A user type is made convertible by specializing
// dramatiq::Convert (see docs/cpp.md, "Conversions"):
//
//   template <> struct dramatiq::Convert<Point> {
//     static std::string type_name() { return "Point"; }
//     static Point from_value(const dramatiq::Value& v) {   // throw ConversionError on bad input
//       return {dramatiq::field<double>(v, "x"), dramatiq::field<double>(v, "y")};
//     }
//     static dramatiq::Value to_value(const Point& p) {
//       return dramatiq::Object{{"x", p.x}, {"y", p.y}};
//     }
//   };
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dramatiq/value.hpp"

namespace dramatiq {

// A value that does not convert to the C++ type asked for. `path` says where
// inside the value ("[2]", "[\"x\"]"), `expected` the C++ type, `got` the
// JSON type found (Python's names: int, str, list, dict, ...).
class ConversionError : public std::invalid_argument {
 public:
  ConversionError(std::string expected, std::string got, std::string path = "")
      : std::invalid_argument(describe(expected, got, path)),
        expected(std::move(expected)), got(std::move(got)), path(std::move(path)) {}
  // The same error one level further out (a container adds its index or key).
  ConversionError within(const std::string& step) const { return {expected, got, step + path}; }
  std::string expected;
  std::string got;
  std::string path;

 private:
  static std::string describe(const std::string& expected, const std::string& got,
                              const std::string& path) {
    return (path.empty() ? "" : "at " + path + ": ") + "expected " + expected + ", got " + got;
  }
};

// A typed actor's message whose arguments do not fit its parameters: names
// the actor, the argument (by position) and the type expected. The message
// fails like any other failure (retried, then dead-lettered).
class ArgumentError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The conversion of one C++ type. Specialize it for your own types.
template <typename T, typename Enable = void>
struct Convert;

// Whether T has a conversion.
template <typename T>
concept Convertible = requires(const Value& v, const T& t) {
  { Convert<T>::from_value(v) } -> std::convertible_to<T>;
  { Convert<T>::to_value(t) } -> std::convertible_to<Value>;
  { Convert<T>::type_name() } -> std::convertible_to<std::string>;
};

template <typename T>
T from_value(const Value& value) {
  return Convert<T>::from_value(value);
}
template <typename T>
Value to_value(const T& value) {
  return Convert<T>::to_value(value);
}
template <typename T>
std::string type_name_of() {
  return Convert<T>::type_name();
}

// A field of a JSON object converted to T, for user conversions: throws
// ConversionError when `object` is not an object, has no such key, or the
// field does not convert.
template <typename T>
T field(const Value& object, const std::string& key) {
  if (!object.is_object()) throw ConversionError("an object with key \"" + key + "\"", object.type_name());
  const Value* found = object.find(key);
  if (!found) throw ConversionError(type_name_of<T>(), "nothing (no such key)", "[\"" + key + "\"]");
  try {
    return from_value<T>(*found);
  } catch (const ConversionError& e) {
    throw e.within("[\"" + key + "\"]");
  }
}

template <>
struct Convert<Value> {
  static std::string type_name() { return "dramatiq::Value"; }
  static Value from_value(const Value& v) { return v; }
  static Value to_value(const Value& v) { return v; }
};

template <>
struct Convert<bool> {
  static std::string type_name() { return "bool"; }
  static bool from_value(const Value& v) {
    if (!v.is_bool()) throw ConversionError(type_name(), v.type_name());
    return v.as_bool();
  }
  static Value to_value(bool b) { return Value(b); }
};

// Integers: a JSON integer within the type's range (not a bool, not a
// float: 2.0 is refused rather than silently truncated).
template <typename T>
struct Convert<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static std::string type_name() {
    if constexpr (std::is_same_v<T, int>) {
      return "int";
    } else {
      return (std::is_signed_v<T> ? "std::int" : "std::uint") + std::to_string(sizeof(T) * 8) + "_t";
    }
  }
  static T from_value(const Value& v) {
    if (v.kind() == Value::Kind::BigInt) {
      // Beyond int64: only a std::uint64_t can still hold it.
      if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::uint64_t)) {
        const std::string& digits = v.as_bigint().digits;
        std::uint64_t n = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (error == std::errc() && end == digits.data() + digits.size()) return static_cast<T>(n);
      }
      throw ConversionError(type_name(), "int out of range");
    }
    if (!v.is_int()) throw ConversionError(type_name(), v.type_name());
    std::int64_t i = v.as_int();
    if constexpr (std::is_signed_v<T>) {
      if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
        throw ConversionError(type_name(), "int out of range (" + std::to_string(i) + ")");
    } else {
      if (i < 0 || static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw ConversionError(type_name(), "int out of range (" + std::to_string(i) + ")");
    }
    return static_cast<T>(i);
  }
  static Value to_value(T i) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      if (i > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value(BigInt{std::to_string(i)});
    }
    return Value(static_cast<std::int64_t>(i));
  }
};

// Floating point: a JSON number (integers too, as Python's float(3) is 3.0).
template <typename T>
struct Convert<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static std::string type_name() { return std::is_same_v<T, float> ? "float" : "double"; }
  static T from_value(const Value& v) {
    if (!v.is_number()) throw ConversionError(type_name(), v.type_name());
    return static_cast<T>(v.as_number());
  }
  static Value to_value(T d) { return Value(static_cast<double>(d)); }
};

template <>
struct Convert<std::string> {
  static std::string type_name() { return "std::string"; }
  static std::string from_value(const Value& v) {
    if (!v.is_string()) throw ConversionError(type_name(), v.type_name());
    return v.as_string();
  }
  static Value to_value(const std::string& s) { return Value(s); }
};

template <typename T>
struct Convert<std::vector<T>> {
  static std::string type_name() { return "std::vector<" + type_name_of<T>() + ">"; }
  static std::vector<T> from_value(const Value& v) {
    if (!v.is_array()) throw ConversionError(type_name(), v.type_name());
    std::vector<T> out;
    out.reserve(v.as_array().size());
    std::size_t index = 0;
    for (const Value& item : v.as_array()) {
      try {
        out.push_back(dramatiq::from_value<T>(item));
      } catch (const ConversionError& e) {
        throw e.within("[" + std::to_string(index) + "]");
      }
      ++index;
    }
    return out;
  }
  static Value to_value(const std::vector<T>& items) {
    Array out;
    out.reserve(items.size());
    for (const T& item : items) out.push_back(dramatiq::to_value<T>(item));
    return Value(std::move(out));
  }
};

template <typename T>
struct Convert<std::map<std::string, T>> {
  static std::string type_name() { return "std::map<std::string, " + type_name_of<T>() + ">"; }
  static std::map<std::string, T> from_value(const Value& v) {
    if (!v.is_object()) throw ConversionError(type_name(), v.type_name());
    std::map<std::string, T> out;
    for (const auto& [key, item] : v.as_object()) {
      try {
        out.insert_or_assign(key, dramatiq::from_value<T>(item));
      } catch (const ConversionError& e) {
        throw e.within("[\"" + key + "\"]");
      }
    }
    return out;
  }
  static Value to_value(const std::map<std::string, T>& items) {
    Object out;
    out.reserve(items.size());
    for (const auto& [key, item] : items) out.emplace_back(key, dramatiq::to_value<T>(item));
    return Value(std::move(out));
  }
};

// std::optional<T>: JSON null (or a missing trailing argument) is nullopt.
template <typename T>
struct Convert<std::optional<T>> {
  static std::string type_name() { return "std::optional<" + type_name_of<T>() + ">"; }
  static std::optional<T> from_value(const Value& v) {
    if (v.is_null()) return std::nullopt;
    try {
      return dramatiq::from_value<T>(v);
    } catch (const ConversionError& e) {
      if (!e.path.empty()) throw;  // the inner error says more
      throw ConversionError(type_name(), e.got);
    }
  }
  static Value to_value(const std::optional<T>& o) { return o ? dramatiq::to_value<T>(*o) : Value(); }
};

}  // namespace dramatiq
