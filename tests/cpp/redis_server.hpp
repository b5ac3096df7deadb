// A private redis-server for one test: a free loopback port, a temporary
// directory, stopped by PID when the test ends. A password (requirepass)
// and other settings can be given; call() authenticates with it.
#pragma once

#include <signal.h>

#include <optional>
#include <string>
#include <vector>

#include "redis/connection.hpp"
#include "server_process.hpp"

namespace dramatiq::testing {

class RedisServer {
 public:
  struct Config {
    std::optional<std::string> password;  // --requirepass
    std::vector<std::string> extra_args;  // more "--name", "value" pairs
  };

  RedisServer() : RedisServer(Config{}) {}
  explicit RedisServer(Config config)
      : process_("redis-server", SIGTERM, 6379), password_(config.password) {
    std::vector<std::string> argv{"redis-server", "--port", std::to_string(port()), "--bind", "127.0.0.1",
                                  "--dir", process_.dir(), "--save", "", "--appendonly", "no",
                                  "--daemonize", "no", "--loglevel", "warning"};
    if (password_) argv.insert(argv.end(), {"--requirepass", *password_});
    argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());
    process_.start(argv,
                   [this] {
                     try {
                       return call({"PING"}).str == "PONG";
                     } catch (const std::exception&) {
                       return false;
                     }
                   });
  }

  int port() const { return process_.port(); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port()) + "/0"; }
  RedisConnectionOptions options() const {
    RedisConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = port();
    options.password = password_;
    return options;
  }
  // A client connection for inspecting keys (authenticated).
  redis::Reply call(const redis::Command& command) const {
    redis::Connection connection(options());
    return connection.call(command);
  }
  void stop() { process_.stop(); }

 private:
  ServerProcess process_;
  std::optional<std::string> password_;
};

}  // namespace dramatiq::testing
