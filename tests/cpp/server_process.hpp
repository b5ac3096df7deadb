// A server program run for one test (redis-server, memcached): a free
// loopback port, a temporary directory, output discarded, stopped by PID
// when the test ends.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dramatiq::testing {

class ServerProcess {
 public:
  // `stop_signal`: what makes the program exit promptly; `reserved_port`:
  // a port never to use (a developer's own server may listen there).
  ServerProcess(const std::string& name, int stop_signal, int reserved_port)
      : name_(name), stop_signal_(stop_signal) {
    std::string pattern = "/tmp/dramatiq-" + name + "-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    do {
      port_ = free_port();
    } while (port_ == reserved_port);
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Runs `argv` in the temporary directory, then waits (at most 10 s) until
  // `ready()` holds; throws naming the Debian package otherwise.
  void start(const std::vector<std::string>& argv, const std::function<bool()>& ready) {
    pid_ = fork();
    if (pid_ == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      if (chdir(dir_.c_str()) != 0) _exit(127);
      std::vector<char*> args;
      for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error(name_ + " did not start (is the " + name_ + " package installed?)");
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, stop_signal_);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
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

  std::string name_;
  int stop_signal_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace dramatiq::testing
