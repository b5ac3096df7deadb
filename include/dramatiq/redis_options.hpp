// How to reach a Redis server and how a Redis broker keeps its keys: shared
// by the broker, the result backend and the rate-limit backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dramatiq {

// Where and how to connect; the names follow redis-py's connection
// parameters. Build one from a URL with from_url.
struct RedisConnectionOptions {
  std::string host = "localhost";
  int port = 6379;
  std::string unix_socket_path;  // when set, host and port are unused
  int db = 0;
  std::optional<std::string> username;  // ACL user (AUTH user password)
  std::optional<std::string> password;
  std::string client_name;

  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify_peer = true;     // ssl_cert_reqs="required" (redis-py's default)
  bool tls_check_hostname = true;  // as redis-py; only when verifying the peer

  std::optional<std::chrono::milliseconds> connect_timeout = std::chrono::seconds(10);
  // How long a command may wait for its reply; unset waits forever.
  std::optional<std::chrono::milliseconds> socket_timeout;

  // redis://[[user]:[password]@]host[:port][/db][?option=value...],
  // rediss:// (TLS), unix://[[user]:[password]@]/path/to/socket[?db=N].
  // Throws std::invalid_argument on a malformed URL.
  static RedisConnectionOptions from_url(std::string_view url);
  // Sets one parameter by its redis-py name from its text ("6380",
  // "true", "1.5" seconds, ...): what URL query options and keyword
  // parameters both go through. Throws std::invalid_argument for a bad
  // value, UnknownOption for a name it does not know.
  struct UnknownOption : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
  };
  void set_option(std::string_view name, std::string_view value);
  // "host:port" or the socket path, for messages.
  std::string describe() const;
};

// maintenance_chance is out of this many script calls.
inline constexpr int kRedisMaintenanceScale = 1000000;

struct RedisBrokerOptions {
  RedisConnectionOptions connection;
  std::string key_namespace = "dramatiq";
  // A worker whose heartbeat is older than this is presumed dead and its
  // unacknowledged messages go back to their queues.
  std::int64_t heartbeat_timeout_ms = 60000;
  // Dead-lettered messages older than this are dropped.
  std::int64_t dead_message_ttl_ms = 86400000LL * 7;
  // Out of a million script calls (fetches, heartbeats, joins; not
  // enqueues), how many also run maintenance.
  int maintenance_chance = 1000;
};

}  // namespace dramatiq
