// How to reach a RabbitMQ server and how a RabbitMQ broker declares its
// queues. The connection names follow pika's ConnectionParameters, which
// upstream Dramatiq passes through.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dramatiq {

// One server to connect to (a broker may have several, tried in order).
// Build one from an amqp:// or amqps:// URL with from_url.
struct RabbitmqConnectionOptions {
  std::string host = "localhost";
  int port = 5672;  // 5671 for amqps:// URLs
  std::string virtual_host = "/";
  std::string username = "guest";
  std::string password = "guest";
  // Seconds between heartbeats; the smaller of this and the server's
  // proposal is used (0: none, when the server agrees). pika's default
  // takes the server's proposal, which this value never exceeds.
  int heartbeat = 60;
  int channel_max = 65535;
  int frame_max = 131072;
  // Connecting: attempts per server and the pause between rounds.
  int connection_attempts = 1;
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::milliseconds socket_timeout{10000};  // connect and each blocking read
  // How long a publisher waits on a server that blocked the connection
  // (connection.blocked, e.g. low memory) before raising; unset: forever.
  std::optional<std::chrono::milliseconds> blocked_connection_timeout;

  bool tls = false;
  std::string tls_ca_file;  // empty: the system's certificate store
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify_peer = true;
  bool tls_verify_hostname = true;

  // amqp[s]://[user[:password]@]host[:port][/vhost][?name=value...], as
  // pika's URLParameters reads it (an empty path is "/", "%2f" is "/").
  // Throws std::invalid_argument on a malformed URL.
  static RabbitmqConnectionOptions from_url(std::string_view url);
  // Sets one parameter by its pika name from its text ("5673", "1.5"
  // seconds, "true"...). Throws std::invalid_argument for a bad value and
  // UnknownOption for a name it does not know.
  struct UnknownOption : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
  };
  void set_option(std::string_view name, std::string_view value);
  // "host:port/vhost", for messages.
  std::string describe() const;
};

// Everything a RabbitmqBroker is configured with.
struct RabbitmqBrokerOptions {
  // Tried in order on every (re)connection: fail-over.
  std::vector<RabbitmqConnectionOptions> servers{RabbitmqConnectionOptions{}};
  // Every publish waits for the server's confirmation (and is mandatory:
  // an unroutable message, e.g. to a deleted queue, is an error).
  bool confirm_delivery = false;
  // Queues get x-max-priority (1..255) and messages their broker_priority.
  std::optional<int> max_priority;
  // x-message-ttl of the dead-letter queues (upstream: 7 days, or the
  // dramatiq_dead_message_ttl environment variable).
  std::int64_t dead_message_ttl_ms = default_dead_message_ttl_ms();
  // Attempts of one publish (declaring its queue included) when the
  // connection breaks, before ConnectionClosed is raised (upstream: 6).
  int max_enqueue_attempts = 6;
  // Attempts of one declaration (upstream: 2).
  int max_declare_attempts = 2;

  static std::int64_t default_dead_message_ttl_ms();
  // Throws std::invalid_argument for a max_priority outside 1..255 or no server.
  void validate() const;
};

}  // namespace dramatiq
