// Parses Redis connection URLs the way redis-py's from_url reads them.
#include <charconv>
#include <stdexcept>

#include "dramatiq/redis_broker.hpp"

namespace dramatiq {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

int parse_int(std::string_view text, const char* what) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string("Invalid ") + what + " for Redis: '" +
                                std::string(text) + "'");
  }
  return value;
}

std::chrono::milliseconds parse_seconds(std::string_view text, const char* what) {
  std::string copy(text);
  try {
    std::size_t used = 0;
    double seconds = std::stod(copy, &used);
    if (used != copy.size() || seconds < 0) throw std::invalid_argument(copy);
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string("Invalid ") + what + " for Redis: '" + copy + "'");
  }
}

bool parse_bool(std::string_view text) {
  return text == "1" || text == "true" || text == "True" || text == "yes" || text == "on";
}

}  // namespace

RedisConnectionOptions RedisConnectionOptions::from_url(std::string_view url) {
  RedisConnectionOptions options;
  auto scheme_end = url.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "redis" && scheme != "rediss" && scheme != "unix") {
    throw std::invalid_argument(
        "Redis URL must specify one of the following schemes (redis://, rediss://, unix://)");
  }
  options.tls = scheme == "rediss";
  std::string_view rest = url.substr(scheme_end + 3);

  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto f = rest.find('#'); f != std::string_view::npos) rest = rest.substr(0, f);

  // [user[:password]@]location
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = credentials.find(':');
    std::string_view user = credentials.substr(0, colon);
    if (!user.empty()) options.username = percent_decode(user);
    if (colon != std::string_view::npos) options.password = percent_decode(credentials.substr(colon + 1));
  }

  if (scheme == "unix") {
    options.unix_socket_path = percent_decode(rest);
    if (options.unix_socket_path.empty()) throw std::invalid_argument("Redis URL has no socket path");
  } else {
    std::string_view location = rest;
    std::string_view path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      location = rest.substr(0, slash);
      path = rest.substr(slash + 1);
    }
    std::string_view host = location;
    if (!location.empty() && location.front() == '[') {  // [ipv6]:port
      auto close = location.find(']');
      if (close == std::string_view::npos) throw std::invalid_argument("Invalid IPv6 host in Redis URL");
      host = location.substr(1, close - 1);
      std::string_view after = location.substr(close + 1);
      if (!after.empty() && after.front() == ':') options.port = parse_int(after.substr(1), "port");
    } else if (auto colon = location.rfind(':'); colon != std::string_view::npos) {
      host = location.substr(0, colon);
      options.port = parse_int(location.substr(colon + 1), "port");
    }
    if (!host.empty()) options.host = percent_decode(host);
    if (!path.empty()) options.db = parse_int(path, "db");
  }

  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    options.set_option(name, value);
  }
  return options;
}

void RedisConnectionOptions::set_option(std::string_view name, std::string_view value) {
  if (name == "host") {
    host = value;
  } else if (name == "port") {
    port = parse_int(value, "port");
  } else if (name == "db") {
    db = parse_int(value, "db");
  } else if (name == "password") {
    password = std::string(value);
  } else if (name == "username") {
    username = std::string(value);
  } else if (name == "unix_socket_path" || name == "path") {
    unix_socket_path = value;
  } else if (name == "client_name") {
    client_name = value;
  } else if (name == "socket_timeout") {
    socket_timeout = parse_seconds(value, "socket_timeout");
  } else if (name == "socket_connect_timeout") {
    connect_timeout = parse_seconds(value, "socket_connect_timeout");
  } else if (name == "ssl") {
    tls = parse_bool(value);
  } else if (name == "ssl_cert_reqs") {
    // redis-py takes the names, and the ssl module's CERT_* numbers.
    if (value == "none" || value == "0") {
      tls_verify_peer = false;
    } else if (value == "optional" || value == "required" || value == "1" || value == "2") {
      tls_verify_peer = true;
    } else {
      throw std::invalid_argument("Invalid ssl_cert_reqs for Redis: '" + std::string(value) + "'");
    }
  } else if (name == "ssl_ca_certs") {
    tls_ca_file = value;
  } else if (name == "ssl_certfile") {
    tls_cert_file = value;
  } else if (name == "ssl_keyfile") {
    tls_key_file = value;
  } else if (name == "ssl_check_hostname") {
    tls_check_hostname = parse_bool(value);
  } else {
    throw UnknownOption("Unsupported Redis connection parameter '" + std::string(name) + "'");
  }
}

std::string RedisConnectionOptions::describe() const {
  if (!unix_socket_path.empty()) return unix_socket_path;
  return host + ":" + std::to_string(port);
}

}  // namespace dramatiq
