// A private memcached for one test: a free loopback port (never 11211), a
// temporary directory, stopped by PID when the test ends.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "dramatiq/memcached_options.hpp"
#include "server_process.hpp"

namespace dramatiq::testing {

class MemcachedServer {
 public:
  // memcached lingers a second on SIGTERM, not on SIGINT; it refuses to
  // run as root unless named a user.
  MemcachedServer() : process_("memcached", SIGINT, 11211) {
    std::vector<std::string> argv{"memcached", "-l", "127.0.0.1", "-p", std::to_string(port()), "-U", "0",
                                  "-m", "64"};
    if (geteuid() == 0) argv.insert(argv.end(), {"-u", "root"});
    process_.start(argv, [this] { return answers(); });
  }

  int port() const { return process_.port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
  MemcachedOptions options(bool binary = false) const {
    MemcachedOptions options;
    options.servers = {address()};
    options.binary = binary;
    return options;
  }
  void stop() { process_.stop(); }

 private:
  // True when the port accepts a connection and answers "version".
  bool answers() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const char request[] = "version\r\n";
      if (write(fd, request, sizeof request - 1) == static_cast<ssize_t>(sizeof request - 1)) {
        char reply[64] = {};
        ok = read(fd, reply, sizeof reply - 1) > 0 && std::string(reply).rfind("VERSION ", 0) == 0;
      }
    }
    close(fd);
    return ok;
  }

  ServerProcess process_;
};

}  // namespace dramatiq::testing
