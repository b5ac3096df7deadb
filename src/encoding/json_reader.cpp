// JSON text -> Value, accepting exactly what Python's json.loads accepts.
//
// simdjson handles the common case. It rejects a few things Python accepts
// (NaN/Infinity, integers beyond 64 bits, exponents that overflow a double,
// lone surrogate escapes), so any input simdjson refuses is re-parsed by the
// small recursive-descent Parser below, which implements the whole grammar
// and is the one that reports errors (with Python's wording and positions).
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "dramatiq/json.hpp"

namespace dramatiq {

namespace {

// Length of the well-formed UTF-8 sequence at s[0..n), or 0 if there is
// none (overlong forms, surrogates and code points above U+10FFFF are all
// ill-formed, as in Python's strict utf-8 codec).
std::size_t utf8_sequence_length(const unsigned char* s, std::size_t n) {
  const unsigned char c = s[0];
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Python reports positions in characters, so count code points up to `pos`.
[[noreturn]] void fail(std::string_view text, std::string_view message, std::size_t pos) {
  std::size_t line = 1, chars = 0, chars_at_line_start = 0;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;
    ++chars;
    if (c == '\n') {
      ++line;
      chars_at_line_start = chars;
    }
  }
  std::string what(message);
  what += ": line " + std::to_string(line) + " column " +
          std::to_string(chars - chars_at_line_start + 1) + " (char " + std::to_string(chars) + ")";
  throw JsonDecodeError(what);
}

// A repeated key keeps the position of its first occurrence and the value
// of its last, which is what building a Python dict from the pairs does.
void drop_duplicate_keys(Object& obj) {
  const std::size_t n = obj.size();
  if (n < 2) return;
  bool has_duplicates = false;
  if (n <= 16) {
    for (std::size_t i = 1; i < n && !has_duplicates; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (obj[i].first == obj[j].first) {
          has_duplicates = true;
          break;
        }
      }
    }
  } else {
    std::vector<std::string_view> keys;
    keys.reserve(n);
    for (const auto& kv : obj) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    has_duplicates = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }
  if (!has_duplicates) return;

  std::vector<bool> superseded(n, false);
  {
    // Keys are not modified while these views are alive.
    std::unordered_map<std::string_view, std::size_t> first_index;
    first_index.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto [it, inserted] = first_index.try_emplace(obj[i].first, i);
      if (!inserted) {
        obj[it->second].second = std::move(obj[i].second);
        superseded[i] = true;
      }
    }
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (superseded[i]) continue;
    if (kept != i) obj[kept] = std::move(obj[i]);
    ++kept;
  }
  obj.resize(kept);
}

// ---------------------------------------------------------------------------
// Fast path: simdjson's DOM, converted to Value.

struct TooDeep {};  // lets the fallback parser report the position

Value from_dom(simdjson::dom::element e, int depth) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: {
      if (depth >= kMaxJsonDepth) throw TooDeep{};
      simdjson::dom::array arr = e.get_array().value_unsafe();
      Array out;
      out.reserve(arr.size());
      for (simdjson::dom::element item : arr) out.push_back(from_dom(item, depth + 1));
      return Value(std::move(out));
    }
    case element_type::OBJECT: {
      if (depth >= kMaxJsonDepth) throw TooDeep{};
      simdjson::dom::object obj = e.get_object().value_unsafe();
      Object out;
      out.reserve(obj.size());
      for (simdjson::dom::key_value_pair field : obj) {
        out.emplace_back(std::string(field.key), from_dom(field.value, depth + 1));
      }
      drop_duplicate_keys(out);
      return Value(std::move(out));
    }
    case element_type::INT64:
      return Value(e.get_int64().value_unsafe());
    case element_type::UINT64: {
      // Only values above INT64_MAX are typed UINT64.
      char buf[24];
      char* end = std::to_chars(buf, buf + sizeof buf, e.get_uint64().value_unsafe()).ptr;
      return Value(BigInt{std::string(buf, end)});
    }
    case element_type::DOUBLE:
      return Value(e.get_double().value_unsafe());
    case element_type::STRING:
      return Value(e.get_string().value_unsafe());
    case element_type::BOOL:
      return Value(e.get_bool().value_unsafe());
    case element_type::NULL_VALUE:
      return Value();
  }
  return Value();
}

// ---------------------------------------------------------------------------
// Fallback: the complete grammar of Python's json scanner.

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Code points are written as UTF-8, except that surrogates (only reachable
// through lone "\ud800"-style escapes, which Python accepts) use the same
// 3-byte pattern (WTF-8) so that write_json can reproduce them.
void append_code_point(unsigned cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// from_chars reports out_of_range without saying which way; Python's float()
// gives +-inf on overflow and +-0.0 on underflow, so decide from the decimal
// magnitude of the literal (position of its first significant digit).
double out_of_range_double(std::string_view token) {
  std::size_t i = 0;
  const bool negative = token[0] == '-';
  if (negative) ++i;
  long long magnitude = 0;
  bool significant = false;
  for (; i < token.size() && is_digit(token[i]); ++i) {
    if (token[i] != '0') significant = true;
    if (significant) ++magnitude;
  }
  if (i < token.size() && token[i] == '.') {
    for (++i; i < token.size() && is_digit(token[i]); ++i) {
      if (significant) continue;
      if (token[i] == '0') {
        --magnitude;
      } else {
        significant = true;
      }
    }
  }
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (token[i] == '-' || token[i] == '+') exp_negative = token[i++] == '-';
    long long exp = 0;
    for (; i < token.size(); ++i) exp = std::min(exp * 10 + (token[i] - '0'), 1'000'000'000LL);
    magnitude += exp_negative ? -exp : exp;
  }
  const double result = magnitude > 0 ? HUGE_VAL : 0.0;
  return negative ? -result : result;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value parse_document() {
    check_utf8();
    if (text_.starts_with("\xEF\xBB\xBF")) {
      fail(text_, "Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
    }
    skip_whitespace();
    Value result = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail(text_, "Extra data", pos_);
    return result;
  }

 private:
  // json.loads works on an already decoded str; an undecodable input fails
  // before any parsing, so do the same (and let the string scanner below
  // copy non-ASCII bytes without re-checking them).
  void check_utf8() const {
    if (simdjson::validate_utf8(text_.data(), text_.size())) return;
    const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
    std::size_t i = 0;
    while (i < text_.size()) {
      const std::size_t len = utf8_sequence_length(s + i, text_.size() - i);
      if (len == 0) break;
      i += len;
    }
    const char hex[] = "0123456789abcdef";
    const std::string byte = {'0', 'x', hex[s[i] >> 4], hex[s[i] & 0xF]};
    fail(text_, "Invalid UTF-8 byte " + byte, i);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool consume(std::string_view literal) {
    if (text_.substr(pos_).starts_with(literal)) {
      pos_ += literal.size();
      return true;
    }
    return false;
  }

  Value parse_value(int depth) {
    switch (peek()) {
      case '"':
        return Value(parse_string());
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case 'n':
        if (consume("null")) return Value();
        break;
      case 't':
        if (consume("true")) return Value(true);
        break;
      case 'f':
        if (consume("false")) return Value(false);
        break;
      case 'N':
        if (consume("NaN")) return Value(std::nan(""));
        break;
      case 'I':
        if (consume("Infinity")) return Value(HUGE_VAL);
        break;
      case '-':
        if (consume("-Infinity")) return Value(-HUGE_VAL);
        return parse_number();
      default:
        if (is_digit(peek())) return parse_number();
        break;
    }
    fail(text_, "Expecting value", pos_);
  }

  void check_depth(int depth) const {
    if (depth > kMaxJsonDepth) {
      fail(text_, "Maximum nesting depth of " + std::to_string(kMaxJsonDepth) + " exceeded", pos_);
    }
  }

  Value parse_array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Array items;
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(depth));
      skip_whitespace();
      if (peek() == ']') {
        ++pos_;
        return Value(std::move(items));
      }
      if (peek() != ',') fail(text_, "Expecting ',' delimiter", pos_);
      ++pos_;
    }
  }

  Value parse_object(int depth) {
    check_depth(depth);
    ++pos_;  // '{'
    Object members;
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(members));
    }
    while (true) {
      if (peek() != '"') fail(text_, "Expecting property name enclosed in double quotes", pos_);
      std::string key = parse_string();
      skip_whitespace();
      if (peek() != ':') fail(text_, "Expecting ':' delimiter", pos_);
      ++pos_;
      skip_whitespace();
      members.emplace_back(std::move(key), parse_value(depth));
      skip_whitespace();
      if (peek() == '}') {
        ++pos_;
        drop_duplicate_keys(members);
        return Value(std::move(members));
      }
      if (peek() != ',') fail(text_, "Expecting ',' delimiter", pos_);
      ++pos_;
      skip_whitespace();
    }
  }

  // Reads the 4 hex digits after "\u" at pos_ (which points at the 'u').
  // A string cannot end right after them, so like Python demand one more
  // character, which reports truncated input as a bad escape.
  unsigned parse_hex4() {
    if (text_.size() - pos_ < 6) fail(text_, "Invalid \\uXXXX escape", pos_);
    unsigned value = 0;
    for (std::size_t i = 1; i <= 4; ++i) {
      const int h = hex_value(text_[pos_ + i]);
      if (h < 0) fail(text_, "Invalid \\uXXXX escape", pos_);
      value = (value << 4) | static_cast<unsigned>(h);
    }
    pos_ += 5;
    return value;
  }

  std::string parse_string() {
    const std::size_t start = pos_++;  // opening quote
    std::string out;
    while (true) {
      const std::size_t run = pos_;
      while (!at_end()) {
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++pos_;
      }
      out.append(text_.data() + run, pos_ - run);
      if (at_end()) fail(text_, "Unterminated string starting at", start);
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c != '\\') fail(text_, "Invalid control character at", pos_);
      const std::size_t backslash = pos_++;
      if (at_end()) fail(text_, "Unterminated string starting at", start);
      switch (text_[pos_]) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = parse_hex4();
          // A high surrogate followed by an escaped low one is a single
          // character; anything else leaves it lone, as Python does.
          if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_).starts_with("\\u")) {
            const std::size_t saved = pos_;
            ++pos_;
            const unsigned low = parse_hex4();
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = saved;
            }
          }
          append_code_point(cp, out);
          continue;  // parse_hex4 already moved past the escape
        }
        default:
          fail(text_, "Invalid \\escape", backslash);
      }
      ++pos_;
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? -- a '.' or exponent
  // without digits ends the number there, and whatever follows is then a
  // syntax error, matching Python's scanner.
  Value parse_number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      fail(text_, "Expecting value", start);
    }
    bool is_float = false;
    if (peek() == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
      is_float = true;
      pos_ += 1;
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      std::size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (p < text_.size() && is_digit(text_[p])) {
        is_float = true;
        while (p < text_.size() && is_digit(text_[p])) ++p;
        pos_ = p;
      }
    }
    const std::string_view token = text_.substr(start, pos_ - start);
    const char* first = token.data();
    const char* last = token.data() + token.size();
    if (!is_float) {
      std::int64_t i = 0;
      if (std::from_chars(first, last, i).ec == std::errc()) return Value(i);
      // JSON forbids leading zeros, so the literal is already canonical.
      return Value(BigInt{std::string(token)});
    }
    double d = 0.0;
    if (std::from_chars(first, last, d).ec == std::errc::result_out_of_range) {
      d = out_of_range_double(token);
    }
    return Value(d);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Value read_json(std::string_view text) {
  // An empty view may have no buffer at all (an empty delivery), and
  // simdjson copies from the pointer even for no bytes.
  if (text.data() == nullptr) text = std::string_view("", 0);
  // One parser per thread: it keeps its buffers between documents, and
  // simdjson parsers must not be shared across threads.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) == simdjson::SUCCESS) {
    try {
      return from_dom(root, 0);
    } catch (const TooDeep&) {
      // fall through: the parser below reports where the limit was hit
    }
  }
  return Parser(text).parse_document();
}

}  // namespace dramatiq
