// Parses Redis connection URLs the way redis-py's from_url reads them.
#include <charconv>
#include <stdexcept>

#include "core/url.hpp"
#include "dramatiq/redis_broker.hpp"

namespace dramatiq {

namespace {

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
  std::string scheme = url_scheme(url);
  if (scheme != "redis" && scheme != "rediss" && scheme != "unix") {
    throw std::invalid_argument(
        "Redis URL must specify one of the following schemes (redis://, rediss://, unix://)");
  }
  options.tls = scheme == "rediss";
  // [user[:password]@]location, the password possibly holding a '/'.
  ParsedUrl parsed = parse_url(url, {.user_info = UrlSyntax::UserInfo::kToLastAt});
  if (parsed.username && !parsed.username->empty()) options.username = *parsed.username;
  if (parsed.password) options.password = *parsed.password;

  if (scheme == "unix") {
    options.unix_socket_path = percent_decode(parsed.location);
    if (options.unix_socket_path.empty()) throw std::invalid_argument("Redis URL has no socket path");
  } else {
    UrlEndpoint endpoint;
    try {
      endpoint = parsed.endpoint();
    } catch (const InvalidUrl& e) {
      throw std::invalid_argument(std::string(e.what()) + " in Redis URL");
    }
    if (endpoint.port) options.port = parse_int(*endpoint.port, "port");
    if (!endpoint.host.empty()) options.host = endpoint.host;
    if (endpoint.path.size() > 1) options.db = parse_int(std::string_view(endpoint.path).substr(1), "db");
  }

  for (const UrlParameter& parameter : parsed.query) options.set_option(parameter.name, parameter.value);
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
