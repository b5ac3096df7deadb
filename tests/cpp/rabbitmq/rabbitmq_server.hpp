// A private rabbitmq-server (Debian package) for the RabbitMQ engine tests:
// node name, data, logs and Erlang cookie in a temporary directory, AMQP,
// distribution and epmd ports free loopback ports, its own epmd; stopped
// by PID (process group) and removed when the object goes. It takes
// seconds to boot, so the tests share one per run.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dramatiq/rabbitmq_options.hpp"
#include "rabbitmq/connection.hpp"

namespace dramatiq::testing {

class RabbitmqServer {
 public:
  RabbitmqServer() {
    std::string pattern = "/tmp/dramatiq-rabbitmq-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    do {
      port_ = free_port();
    } while (port_ == 5672);
    dist_port_ = free_port();
    epmd_port_ = free_port();
    std::ofstream(dir_ + "/rabbitmq.conf") << "listeners.tcp.default = 127.0.0.1:" << port_ << "\n"
                                           << "loopback_users = none\n";
    std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
    epmd_pid_ = spawn({"epmd", "-address", "127.0.0.1", "-port", std::to_string(epmd_port_)});
    start();
  }
  ~RabbitmqServer() {
    stop();
    if (epmd_pid_ > 0) {
      kill(epmd_pid_, SIGTERM);
      waitpid(epmd_pid_, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RabbitmqServer(const RabbitmqServer&) = delete;
  RabbitmqServer& operator=(const RabbitmqServer&) = delete;

  // Starts (again, on the same port and data) and waits until it answers.
  void start() {
    pid_ = spawn({"/usr/lib/rabbitmq/bin/rabbitmq-server"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      if (answers()) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("rabbitmq-server exited at startup (see " + dir_ + "/log)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("rabbitmq-server did not start (is the rabbitmq-server package installed?)");
  }

  // SIGTERM: the server shuts down cleanly (durable messages kept).
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    kill(-pid_, SIGKILL);  // anything of its group left over
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string url() const { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port_) + "/"; }
  RabbitmqBrokerOptions options() const {
    RabbitmqBrokerOptions options;
    options.servers = {RabbitmqConnectionOptions::from_url(url())};
    return options;
  }

 private:
  bool answers() const {
    try {
      RabbitmqBrokerOptions probe = options();
      probe.servers.front().socket_timeout = std::chrono::milliseconds(1000);
      rabbitmq::Connection connection(probe);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  pid_t spawn(const std::vector<std::string>& argv) const {
    std::map<std::string, std::string> env{
        {"HOME", dir_},
        {"ERL_EPMD_PORT", std::to_string(epmd_port_)},
        {"ERL_EPMD_ADDRESS", "127.0.0.1"},
        {"RABBITMQ_NODENAME", "dramatiq-test-" + std::to_string(port_) + "@localhost"},
        {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
        {"RABBITMQ_NODE_PORT", std::to_string(port_)},
        {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
        {"RABBITMQ_MNESIA_BASE", dir_ + "/mnesia"},
        {"RABBITMQ_LOG_BASE", dir_ + "/log"},
        {"RABBITMQ_CONFIG_FILE", dir_ + "/rabbitmq"},
        {"RABBITMQ_ADVANCED_CONFIG_FILE", dir_ + "/advanced.config"},
        {"RABBITMQ_ENABLED_PLUGINS_FILE", dir_ + "/enabled_plugins"},
        {"RABBITMQ_PID_FILE", dir_ + "/rabbitmq.pid"},
        {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}"},
    };
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      std::filesystem::create_directories(dir_ + "/log");
      int log = open((dir_ + "/log/server.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int null = open("/dev/null", O_RDONLY);
      dup2(null, STDIN_FILENO);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      if (chdir(dir_.c_str()) != 0) _exit(127);
      std::vector<char*> args;
      for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    return pid;
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
  int dist_port_ = 0;
  int epmd_port_ = 0;
  pid_t pid_ = -1;
  pid_t epmd_pid_ = -1;
};

}  // namespace dramatiq::testing
