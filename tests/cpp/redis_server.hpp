// A private redis-server for one test: a free loopback port, a temporary
// directory, stopped by PID when the test ends.
#pragma once

#include <signal.h>

#include <string>

#include "redis/connection.hpp"
#include "server_process.hpp"

namespace dramatiq::testing {

class RedisServer {
 public:
  RedisServer() : process_("redis-server", SIGTERM, 6379) {
    process_.start({"redis-server", "--port", std::to_string(port()), "--bind", "127.0.0.1", "--dir",
                    process_.dir(), "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel",
                    "warning"},
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
    return options;
  }
  // A client connection for inspecting keys.
  redis::Reply call(const redis::Command& command) const {
    redis::Connection connection(options());
    return connection.call(command);
  }
  void stop() { process_.stop(); }

 private:
  ServerProcess process_;
};

}  // namespace dramatiq::testing
