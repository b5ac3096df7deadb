// A private memcached for one test: a free loopback port (never 11211), a
// temporary directory, stopped by PID when the test ends.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "dramatiq/memcached_options.hpp"

namespace dramatiq::testing {

class MemcachedServer {
 public:
  MemcachedServer() {
    char pattern[] = "/tmp/dramatiq-memcached-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    do {
      port_ = free_port();
    } while (port_ == 11211);
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      if (chdir(dir_.c_str()) != 0) _exit(127);
      std::string port = std::to_string(port_);
      // memcached refuses to run as root unless named a user.
      if (geteuid() == 0) {
        execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-m", "64",
               "-u", "root", static_cast<char*>(nullptr));
      } else {
        execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-m", "64",
               static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (answers()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("memcached did not start (is the memcached package installed?)");
  }
  ~MemcachedServer() { stop(); }
  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  MemcachedOptions options(bool binary = false) const {
    MemcachedOptions options;
    options.servers = {address()};
    options.binary = binary;
    return options;
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGINT);  // memcached lingers a second on SIGTERM, not on SIGINT
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

 private:
  // True when the port accepts a connection and answers "version".
  bool answers() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
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

  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    return ntohs(address.sin_port);
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace dramatiq::testing
