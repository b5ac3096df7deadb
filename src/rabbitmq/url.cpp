// Reads RabbitMQ connection URLs and parameters the way pika's
// URLParameters and ConnectionParameters read them.
#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include "dramatiq/rabbitmq_options.hpp"
#include "dramatiq/redacted_url.hpp"

namespace dramatiq {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text, bool plus_is_space = false) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out.push_back(' ');  // query values are form-encoded
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

[[noreturn]] void bad_value(std::string_view name, std::string_view value) {
  throw std::invalid_argument("Invalid value for RabbitMQ connection parameter '" + std::string(name) +
                              "': '" + std::string(value) + "'");
}

int parse_int(std::string_view name, std::string_view text, int min, int max) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    bad_value(name, text);
  }
  return value;
}

std::chrono::milliseconds parse_seconds(std::string_view name, std::string_view text) {
  std::string copy(text);
  try {
    std::size_t used = 0;
    double seconds = std::stod(copy, &used);
    if (used != copy.size() || !(seconds >= 0)) throw std::invalid_argument(copy);
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  } catch (const std::exception&) {
    bad_value(name, text);
  }
}

bool parse_bool(std::string_view name, std::string_view text) {
  if (text == "1" || text == "true" || text == "True" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "False" || text == "no" || text == "off" || text.empty()) {
    return false;
  }
  bad_value(name, text);
}

}  // namespace

void RabbitmqConnectionOptions::set_option(std::string_view name, std::string_view value) {
  if (name == "host") {
    host = std::string(value);
  } else if (name == "port") {
    port = parse_int(name, value, 1, 65535);
  } else if (name == "virtual_host") {
    virtual_host = std::string(value);
  } else if (name == "username") {
    username = std::string(value);
  } else if (name == "password") {
    password = std::string(value);
  } else if (name == "heartbeat") {
    heartbeat = parse_int(name, value, 0, 65535);
  } else if (name == "channel_max") {
    channel_max = parse_int(name, value, 1, 65535);
  } else if (name == "frame_max") {
    frame_max = parse_int(name, value, 4096, 0x7fffffff);  // AMQP's minimum frame size
  } else if (name == "connection_attempts") {
    connection_attempts = parse_int(name, value, 1, 1 << 20);
  } else if (name == "retry_delay") {
    retry_delay = parse_seconds(name, value);
  } else if (name == "socket_timeout" || name == "stack_timeout") {
    socket_timeout = parse_seconds(name, value);
  } else if (name == "blocked_connection_timeout") {
    if (value.empty() || value == "None") {
      blocked_connection_timeout.reset();
    } else {
      blocked_connection_timeout = parse_seconds(name, value);
    }
  } else if (name == "ssl") {
    tls = parse_bool(name, value);
  } else if (name == "ssl_ca_certs" || name == "ca_certs" || name == "cafile") {
    tls_ca_file = std::string(value);
  } else if (name == "ssl_certfile" || name == "certfile") {
    tls_cert_file = std::string(value);
  } else if (name == "ssl_keyfile" || name == "keyfile") {
    tls_key_file = std::string(value);
  } else if (name == "ssl_cert_reqs" || name == "cert_reqs") {
    // ssl.CERT_NONE is 0; CERT_OPTIONAL and CERT_REQUIRED verify.
    tls_verify_peer = !(value == "0" || value == "none" || value == "CERT_NONE");
  } else if (name == "ssl_check_hostname" || name == "check_hostname") {
    tls_verify_hostname = parse_bool(name, value);
  } else if (name == "locale" || name == "backpressure_detection" || name == "tcp_options" ||
             name == "client_properties" || name == "ssl_options") {
    // pika-only tuning (and ssl_options' dict form, which the Python
    // layer has already turned into the ssl_* names above).
  } else {
    throw UnknownOption("Unknown RabbitMQ connection parameter '" + std::string(name) + "'");
  }
}

RabbitmqConnectionOptions RabbitmqConnectionOptions::from_url(std::string_view url) {
  RabbitmqConnectionOptions options;
  auto scheme_end = url.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "amqp" && scheme != "amqps") {
    throw std::invalid_argument("RabbitMQ URL must start with amqp:// or amqps://: '" + redacted_url(url) + "'");
  }
  if (scheme == "amqps") {
    options.tls = true;
    options.port = 5671;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (auto f = rest.find('#'); f != std::string_view::npos) rest = rest.substr(0, f);

  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = credentials.find(':');
    options.username = percent_decode(credentials.substr(0, colon));
    options.password = colon == std::string_view::npos ? "" : percent_decode(credentials.substr(colon + 1));
  }
  std::string_view host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [ipv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("Invalid IPv6 host in RabbitMQ URL");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() == ':') options.port = parse_int("port", after.substr(1), 1, 65535);
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    if (colon + 1 < rest.size()) options.port = parse_int("port", rest.substr(colon + 1), 1, 65535);
  }
  if (!host.empty()) options.host = percent_decode(host);
  if (!path.empty()) options.virtual_host = percent_decode(path);

  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
    try {
      options.set_option(name, value);
    } catch (const UnknownOption&) {
      // pika warns about and ignores query options it does not know.
    }
  }
  return options;
}

std::string RabbitmqConnectionOptions::describe() const {
  return host + ":" + std::to_string(port) + (virtual_host == "/" ? "/" : "/" + virtual_host);
}

std::int64_t RabbitmqBrokerOptions::default_dead_message_ttl_ms() {
  constexpr std::int64_t kSevenDays = 86400000LL * 7;
  const char* text = std::getenv("dramatiq_dead_message_ttl");
  if (!text || !*text) return kSevenDays;
  std::int64_t value = 0;
  std::string_view view(text);
  auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size() || value < 0) return kSevenDays;
  return value;
}

void RabbitmqBrokerOptions::validate() const {
  if (max_priority && (*max_priority <= 0 || *max_priority > 255)) {
    throw std::invalid_argument("max_priority must be a value between 0 and 255");
  }
  if (servers.empty()) throw std::invalid_argument("RabbitmqBroker needs at least one server");
}

}  // namespace dramatiq
