#include "dramatiq/value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace dramatiq {

namespace {

// Python dicts compare equal regardless of insertion order, and Value
// mirrors Python semantics, so objects are compared as key -> value maps.
bool objects_equal(const Object& a, const Object& b) {
  if (a.size() != b.size()) return false;
  // Most comparisons are between objects built the same way, so try the
  // cheap positional walk before paying for a sort.
  bool same_order = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) {
      same_order = false;
      break;
    }
  }
  if (same_order) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!(a[i].second == b[i].second)) return false;
    }
    return true;
  }
  using Entry = const std::pair<std::string, Value>*;
  auto sorted = [](const Object& o) {
    std::vector<Entry> entries;
    entries.reserve(o.size());
    for (const auto& kv : o) entries.push_back(&kv);
    std::sort(entries.begin(), entries.end(),
              [](Entry x, Entry y) { return x->first < y->first; });
    return entries;
  };
  const std::vector<Entry> sa = sorted(a);
  const std::vector<Entry> sb = sorted(b);
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (sa[i]->first != sb[i]->first || !(sa[i]->second == sb[i]->second)) return false;
  }
  return true;
}

std::int64_t saturate(bool negative) {
  return negative ? std::numeric_limits<std::int64_t>::min()
                  : std::numeric_limits<std::int64_t>::max();
}

}  // namespace

double Value::as_number() const {
  switch (kind()) {
    case Kind::Int:
      return static_cast<double>(as_int());
    case Kind::Float:
      return as_float();
    case Kind::BigInt: {
      const std::string& digits = as_bigint().digits;
      double result = 0.0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), result);
      (void)ptr;
      // A BigInt is at least 2**63 in magnitude, so out_of_range can only
      // mean overflow (Python's float(int) would raise; inf is the closest
      // thing a double can say).
      if (ec == std::errc::result_out_of_range) {
        result = digits.starts_with('-') ? -HUGE_VAL : HUGE_VAL;
      }
      return result;
    }
    default:
      // Same failure mode as the other typed accessors.
      throw std::bad_variant_access();
  }
}

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& kv : as_object()) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

void Value::set(std::string_view key, Value value) {
  Object& obj = as_object();
  for (auto& kv : obj) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  obj.emplace_back(std::string(key), std::move(value));
}

bool Value::erase(std::string_view key) {
  if (!is_object()) return false;
  Object& obj = as_object();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it->first == key) {
      obj.erase(it);  // erase (not swap-remove) to keep the dict's order
      return true;
    }
  }
  return false;
}

std::int64_t Value::get_int(std::string_view key, std::int64_t fallback) const {
  const Value* v = find(key);
  if (v == nullptr) return fallback;
  switch (v->kind()) {
    case Kind::Int:
      return v->as_int();
    case Kind::Float: {
      const double d = v->as_float();
      if (std::isnan(d)) return fallback;
      // Options such as limits may arrive as floats (e.g. 1e20 or inf for
      // "unbounded"); clamping keeps their meaning instead of invoking UB.
      if (d >= 9223372036854775808.0) return saturate(false);
      if (d < -9223372036854775808.0) return saturate(true);
      return static_cast<std::int64_t>(d);
    }
    case Kind::BigInt:
      return saturate(v->as_bigint().digits.starts_with('-'));
    default:
      return fallback;
  }
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::Null:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
    case Kind::BigInt:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Array:
      return "list";
    case Kind::Object:
      return "dict";
    case Kind::Foreign:
      // A null handle is a caller bug, but error paths must not crash on it.
      return as_foreign() ? as_foreign()->type_name() : "ForeignObject";
  }
  return "object";
}

bool Value::operator==(const Value& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::Null:
      return true;
    case Kind::Bool:
      return as_bool() == other.as_bool();
    case Kind::Int:
      return as_int() == other.as_int();
    case Kind::BigInt:
      return as_bigint() == other.as_bigint();
    case Kind::Float:
      return as_float() == other.as_float();
    case Kind::String:
      return as_string() == other.as_string();
    case Kind::Array:
      return as_array() == other.as_array();
    case Kind::Object:
      return objects_equal(as_object(), other.as_object());
    case Kind::Foreign:
      return as_foreign().get() == other.as_foreign().get();
  }
  return false;
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Null: return false;
    case Value::Kind::Bool: return v.as_bool();
    case Value::Kind::Int: return v.as_int() != 0;
    case Value::Kind::Float: return v.as_float() != 0.0;
    case Value::Kind::String: return !v.as_string().empty();
    case Value::Kind::Array: return !v.as_array().empty();
    case Value::Kind::Object: return !v.as_object().empty();
    default: return true;
  }
}

}  // namespace dramatiq
