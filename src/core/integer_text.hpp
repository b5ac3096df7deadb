// Reading a whole string as a decimal 64-bit integer (what the engine
// itself wrote into a broker: ticks, expiry times).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dramatiq {

// nullopt unless all of `text` is one integer that fits.
inline std::optional<std::int64_t> parse_int64(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace dramatiq
