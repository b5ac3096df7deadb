// JSON output identical to Python's json.dumps(v, separators=(",", ":")).
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "dramatiq/json.hpp"

namespace dramatiq {

JsonEncodeError::JsonEncodeError(const std::string& type_name)
    : std::runtime_error("Object of type " + type_name + " is not JSON serializable"),
      type_(type_name) {}

JsonEncodeError::JsonEncodeError(const std::string& type_name, const std::string& reason)
    : std::runtime_error("Object of type " + type_name + " cannot be written as JSON: " + reason),
      type_(type_name) {}

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// What each byte needs in a string literal: 0 = copy as is, a letter = the
// short escape Python uses, 'u' = \u00XX, 'U' = start of a multi-byte UTF-8
// sequence that becomes one or two \uXXXX escapes (ensure_ascii).
constexpr std::array<char, 256> make_escape_table() {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = 'u';
  table['"'] = '"';
  table['\\'] = '\\';
  table['\n'] = 'n';
  table['\r'] = 'r';
  table['\t'] = 't';
  table['\b'] = 'b';
  table['\f'] = 'f';
  // Python's ensure_ascii escapes everything outside ' '..'~', DEL included.
  table[0x7F] = 'u';
  for (int c = 0x80; c < 0x100; ++c) table[c] = 'U';
  return table;
}
constexpr std::array<char, 256> kEscape = make_escape_table();

void append_u_escape(unsigned code_unit, std::string& out) {
  const char esc[6] = {'\\', 'u', kHexDigits[(code_unit >> 12) & 0xF],
                       kHexDigits[(code_unit >> 8) & 0xF], kHexDigits[(code_unit >> 4) & 0xF],
                       kHexDigits[code_unit & 0xF]};
  out.append(esc, sizeof esc);
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes the UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80) and returns
// its length. Surrogate code points encoded as 3-byte sequences (WTF-8) are
// accepted because read_json produces them for Python strings holding lone
// surrogates ("\ud800"), and Python writes those back as \ud800. Bytes that
// are not UTF-8 at all cannot come from a Python str; they become U+FFFD
// rather than an exception so a stray byte never loses a whole message.
std::size_t decode_utf8(const unsigned char* s, std::size_t n, unsigned& code_point) {
  const unsigned char lead = s[0];
  std::size_t len;
  unsigned cp;
  unsigned min;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    code_point = 0xFFFD;
    return 1;
  }
  if (n < len) {
    code_point = 0xFFFD;
    return 1;
  }
  for (std::size_t i = 1; i < len; ++i) {
    if (!is_continuation(s[i])) {
      code_point = 0xFFFD;
      return 1;
    }
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF) {  // overlong or out of Unicode's range
    code_point = 0xFFFD;
    return 1;
  }
  code_point = cp;
  return len;
}

void write_string(std::string_view s, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  out.push_back('"');
  while (p < end) {
    // Copy the longest run that needs no escaping in one append.
    const auto* run = p;
    while (p < end && kEscape[*p] == 0) ++p;
    if (p != run) out.append(reinterpret_cast<const char*>(run), p - run);
    if (p == end) break;
    const char esc = kEscape[*p];
    if (esc == 'u') {
      append_u_escape(*p, out);
      ++p;
    } else if (esc == 'U') {
      unsigned cp;
      p += decode_utf8(p, static_cast<std::size_t>(end - p), cp);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        append_u_escape(0xD800 | (cp >> 10), out);
        append_u_escape(0xDC00 | (cp & 0x3FF), out);
      } else {
        append_u_escape(cp, out);
      }
    } else {
      const char pair[2] = {'\\', esc};
      out.append(pair, 2);
      ++p;
    }
  }
  out.push_back('"');
}

// Python's float repr: the shortest digits that round-trip (which is what
// to_chars produces), laid out in fixed notation when the decimal exponent
// is in [-4, 16) and in scientific notation (at least two exponent digits,
// explicit sign) otherwise; integral values in fixed notation get ".0".
void write_float(double d, std::string& out) {
  if (std::isnan(d)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(d)) {
    out.append(d > 0 ? "Infinity" : "-Infinity");
    return;
  }
  // Scientific form gives the digits and exponent separately, whatever the
  // magnitude, e.g. "-1.2345e+02" or "5e-324".
  char sci[32];
  const char* sci_end = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific).ptr;
  const char* p = sci;
  const bool negative = *p == '-';
  if (negative) ++p;
  char digits[24];
  int n = 0;
  for (; *p != 'e'; ++p) {
    if (*p != '.') digits[n++] = *p;
  }
  ++p;  // 'e'
  const bool exp_negative = *p == '-';
  ++p;  // to_chars always writes the exponent's sign
  int exp = 0;
  std::from_chars(p, sci_end, exp);
  if (exp_negative) exp = -exp;

  char buf[48];
  char* o = buf;
  if (negative) *o++ = '-';
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const int int_len = exp + 1;
      if (n <= int_len) {
        std::memcpy(o, digits, n);
        o += n;
        std::memset(o, '0', int_len - n);
        o += int_len - n;
        *o++ = '.';
        *o++ = '0';
      } else {
        std::memcpy(o, digits, int_len);
        o += int_len;
        *o++ = '.';
        std::memcpy(o, digits + int_len, n - int_len);
        o += n - int_len;
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      std::memset(o, '0', -exp - 1);
      o += -exp - 1;
      std::memcpy(o, digits, n);
      o += n;
    }
  } else {
    *o++ = digits[0];
    if (n > 1) {
      *o++ = '.';
      std::memcpy(o, digits + 1, n - 1);
      o += n - 1;
    }
    *o++ = 'e';
    *o++ = exp_negative ? '-' : '+';
    const int abs_exp = exp < 0 ? -exp : exp;
    if (abs_exp < 10) *o++ = '0';
    o = std::to_chars(o, buf + sizeof buf, abs_exp).ptr;
  }
  out.append(buf, o - buf);
}

[[noreturn]] void throw_too_deep(const char* what) {
  throw JsonNestingError("maximum nesting depth of " + std::to_string(kMaxJsonDepth) +
                         " exceeded while encoding a JSON " + what);
}

// `depth`: containers already open around `v`.
void write_value(const Value& v, std::string& out, int depth) {
  switch (v.kind()) {
    case Value::Kind::Null:
      out.append("null");
      return;
    case Value::Kind::Bool:
      out.append(v.as_bool() ? "true" : "false");
      return;
    case Value::Kind::Int: {
      char buf[24];
      const char* end = std::to_chars(buf, buf + sizeof buf, v.as_int()).ptr;
      out.append(buf, end - buf);
      return;
    }
    case Value::Kind::BigInt:
      out.append(v.as_bigint().digits);
      return;
    case Value::Kind::Float:
      write_float(v.as_float(), out);
      return;
    case Value::Kind::String:
      write_string(v.as_string(), out);
      return;
    case Value::Kind::Array: {
      if (depth >= kMaxJsonDepth) throw_too_deep("array");
      out.push_back('[');
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_value(item, out, depth + 1);
      }
      out.push_back(']');
      return;
    }
    case Value::Kind::Object: {
      if (depth >= kMaxJsonDepth) throw_too_deep("object");
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        write_string(key, out);
        out.push_back(':');
        write_value(item, out, depth + 1);
      }
      out.push_back('}');
      return;
    }
    case Value::Kind::Foreign: {
      std::string reason = v.as_foreign()->json_refusal();
      if (!reason.empty()) throw JsonEncodeError(v.type_name(), reason);
      throw JsonEncodeError(v.type_name());
    }
  }
}

}  // namespace

void write_json(const Value& value, std::string& out, int enclosing_depth) {
  const std::size_t original_size = out.size();
  try {
    write_value(value, out, enclosing_depth);
  } catch (...) {
    // Like json.dumps, a failed encode produces nothing, so callers that
    // reuse a buffer are not left with half a document in it.
    out.resize(original_size);
    throw;
  }
}

std::string to_json(const Value& value) {
  std::string out;
  write_value(value, out, 0);
  return out;
}

}  // namespace dramatiq
