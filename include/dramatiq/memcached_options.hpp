// How to reach a memcached deployment, in the terms pylibmc.Client takes
// (servers, binary, behaviors), for every engine part that stores in
// memcached (rate limits, results).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dramatiq {

struct MemcachedOptions {
  // "host", "host:port", "[v6addr]:port", "tcp:host:port" or a unix socket
  // path ("/run/memcached.sock"). Default port 11211.
  std::vector<std::string> servers{"127.0.0.1"};
  // The binary protocol instead of the text one.
  bool binary = false;
  // At most this many connections (per server set) at once; callers beyond
  // that wait for one to come back.
  std::size_t pool_size = 8;
  // pylibmc behavior names to integer values (tcp_nodelay, tcp_keepalive,
  // no_block, connect_timeout (ms), receive_timeout and send_timeout (us),
  // retry_timeout and dead_timeout (s), remove_failed, failure_limit,
  // ketama, ketama_weighted, cas, verify_keys, hash, distribution). Setting
  // an unknown name throws std::invalid_argument.
  std::map<std::string, long long> behaviors;
  std::optional<std::string> username;  // SASL (needs a SASL-enabled server)
  std::optional<std::string> password;

  // The servers as one line, for messages.
  std::string describe() const;
};

}  // namespace dramatiq
