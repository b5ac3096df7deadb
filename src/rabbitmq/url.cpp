// Reads RabbitMQ connection URLs and parameters the way pika's
// URLParameters and ConnectionParameters read them.
#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include "core/url.hpp"
#include "dramatiq/rabbitmq_options.hpp"

namespace dramatiq {

namespace {

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
  std::string scheme = url_scheme(url);
  if (scheme != "amqp" && scheme != "amqps") {
    throw std::invalid_argument("RabbitMQ URL must start with amqp:// or amqps://: '" + redacted_url(url) + "'");
  }
  if (scheme == "amqps") {
    options.tls = true;
    options.port = 5671;
  }
  // pika reads URLs with urllib.parse: the user information ends in the
  // authority, and query values are form-encoded.
  ParsedUrl parsed = parse_url(url, {.user_info = UrlSyntax::UserInfo::kInAuthority, .form_encoded_query = true});
  if (parsed.username) {
    options.username = *parsed.username;
    options.password = parsed.password.value_or("");
  }
  UrlEndpoint endpoint;
  try {
    endpoint = parsed.endpoint();
  } catch (const InvalidUrl& e) {
    throw std::invalid_argument(std::string(e.what()) + " in RabbitMQ URL");
  }
  if (endpoint.port && !endpoint.port->empty()) options.port = parse_int("port", *endpoint.port, 1, 65535);
  if (!endpoint.host.empty()) options.host = endpoint.host;
  if (endpoint.path.size() > 1) options.virtual_host = percent_decode(std::string_view(endpoint.path).substr(1));

  for (const UrlParameter& parameter : parsed.query) {
    try {
      options.set_option(parameter.name, parameter.value);
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
