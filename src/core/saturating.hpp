// Arithmetic on numbers that come from messages (any producer's): clamped
// to the 64-bit range instead of overflowing or converting out of range,
// both undefined behaviour in C++.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace dramatiq {

// d truncated to an integer, clamped to the 64-bit range; NaN gives `nan`.
inline std::int64_t saturating_int64(double d, std::int64_t nan) {
  if (std::isnan(d)) return nan;
  if (d >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
  if (d < -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(d);
}

inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

inline std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
  std::int64_t difference;
  if (!__builtin_sub_overflow(a, b, &difference)) return difference;
  return b < 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

}  // namespace dramatiq
