// The one reader of the URLs brokers and backends are named by
// (scheme://[user[:password]@]host[:port][/path][?query][#fragment]); each
// broker maps the parts to its own options and says what is wrong in its
// own words (src/rabbitmq/url.cpp, src/redis/url.cpp, the SQLite broker's
// from_url). redacted_url, which hides the password of such a URL in
// messages, is declared in dramatiq/redacted_url.hpp and lives in url.cpp.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dramatiq/redacted_url.hpp"

namespace dramatiq {

// The text before "://", lower-cased (schemes are case-insensitive, as
// Python's urllib.parse, and so redis-py and pika, read them); empty when
// there is no "://".
std::string url_scheme(std::string_view url);

// `text` with each %XX (two hex digits) replaced by its byte; a '%' not
// followed by two hex digits is kept as it is. With `plus_is_space`, '+'
// is a space too (application/x-www-form-urlencoded, as Python's parse_qs).
std::string percent_decode(std::string_view text, bool plus_is_space = false);

// What parse_url cannot read ("Invalid IPv6 host"); the broker adds whose
// URL it was.
struct InvalidUrl : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// How one kind of URL is read: the brokers' URLs differ in where the user
// information may end and whether a host follows it.
struct UrlSyntax {
  enum class UserInfo {
    // In the authority (up to the first '/'), to its last '@': what
    // Python's urllib.parse (and so pika) reads.
    kInAuthority,
    // To the last '@' before the fragment and query, so a password may
    // hold an unescaped '/' (redis://:pa/ss@host), as redacted_url reads it.
    kToLastAt,
    // None: a '@' is part of the location (a file path).
    kNone,
  };
  UserInfo user_info = UserInfo::kInAuthority;
  // Query names and values are form-encoded ('+' is a space), as pika
  // reads them.
  bool form_encoded_query = false;
};

// One name[=value] of the query, percent-decoded.
struct UrlParameter {
  std::string name;
  std::string value;     // empty without '='
  bool has_value = false;  // whether there was an '='
};

// A location's host, port and path.
struct UrlEndpoint {
  std::string host;                 // percent-decoded, without an IPv6 address's brackets
  std::optional<std::string> port;  // the text after the host's ':' (maybe empty), unchecked
  std::string path;                 // from the first '/' on (kept), not decoded; empty without one
};

struct ParsedUrl {
  std::string scheme;                   // url_scheme(url)
  std::optional<std::string> username;  // percent-decoded; present when there is user information
  std::optional<std::string> password;  // percent-decoded; present when the user information has a ':'
  // After the user information, before the fragment and the query, not
  // decoded: host[:port][/path], or the path of a URL with no host
  // (unix:///run/redis.sock, sqlite:///var/lib/q.db).
  std::string location;
  std::optional<std::string> fragment;  // after a '#' that comes before the query, not decoded
  std::vector<UrlParameter> query;      // in order; empty pairs ("a=1&&b=2") skipped

  // The location as host[:port][/path]; throws InvalidUrl for a '[' without
  // its ']'.
  UrlEndpoint endpoint() const;
};

// Splits `url` (the query is everything after the first '?'). Never throws:
// a URL without "://" has an empty scheme and nothing else, for the broker
// to refuse in its words.
ParsedUrl parse_url(std::string_view url, UrlSyntax syntax = {});

}  // namespace dramatiq
