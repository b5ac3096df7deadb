// Redis connections that fail half-way through their handshake (AUTH,
// SELECT, TLS) must give back their socket, here and on the server; error
// texts name the real cause; scripts the server forgot are run again.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "dramatiq/errors.hpp"
#include "dramatiq/rate_limit_backends.hpp"
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/wait_interruption.hpp"
#include "redis/connection.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kAttempts = 50;
// Slack for descriptors or server connections that come and go on their
// own (the connection that asks INFO, say); a leak adds one per attempt.
constexpr int kSlack = 2;

int open_fd_count() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

long long info_field(const RedisServer& server, const std::string& section, const std::string& field) {
  std::string info = server.call({"INFO", section}).str;
  auto at = info.find(field + ":");
  if (at == std::string::npos) throw std::runtime_error("INFO has no " + field);
  return std::stoll(info.substr(at + field.size() + 1));
}

long long connected_clients(const RedisServer& server) {
  return info_field(server, "clients", "connected_clients");
}

RedisConnectionOptions options_for(const RedisServer& server, std::optional<std::string> password) {
  RedisConnectionOptions options = server.options();
  options.password = std::move(password);
  return options;
}

// Answers every connection with fixed bytes after reading what the client
// sent first, then closes it: stands in for a server in a state a real one
// is hard to put in (loading its data set), or for a non-TLS peer.
class FakeServer {
 public:
  explicit FakeServer(std::string answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 64) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stopping_ = true;
    thread_.join();
    ::close(listener_);
  }

  RedisConnectionOptions options() const {
    RedisConnectionOptions options;
    options.host = "127.0.0.1";
    options.port = port_;
    return options;
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      pollfd readable{client, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(kLongWait.count())) > 0) {
        char buffer[4096];
        (void)::recv(client, buffer, sizeof buffer, 0);
        (void)::send(client, answer_.data(), answer_.size(), MSG_NOSIGNAL);
      }
      ::shutdown(client, SHUT_WR);
      ::close(client);
    }
  }

  std::string answer_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

TEST(RedisConnection, FailedAuthenticationReleasesItsSocket) {
  RedisServer server(RedisServer::Config{.password = "right"});
  RedisBrokerOptions wrong;
  wrong.connection = options_for(server, "wrong");
  RedisBrokerOptions missing;
  missing.connection = options_for(server, std::nullopt);
  RedisBroker with_wrong_password(wrong);
  RedisBroker without_password(missing);
  with_wrong_password.declare_queue("default");
  without_password.declare_queue("default");

  int fds_before = open_fd_count();
  long long clients_before = connected_clients(server);
  for (int i = 0; i < kAttempts; ++i) {
    for (RedisBroker* broker : {&with_wrong_password, &without_password}) {
      try {
        broker->enqueue(make_message("a", {}));
        FAIL() << "enqueue succeeded without the right password";
      } catch (const ConnectionFailed& e) {
        EXPECT_NE(std::string(e.what()).find("Authentication failed"), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_LE(open_fd_count(), fds_before + kSlack);
  EXPECT_LE(connected_clients(server), clients_before + kSlack);
}

TEST(RedisConnection, FailedSelectReleasesItsSocket) {
  RedisServer server;
  RedisConnectionOptions options = server.options();
  options.db = 99;  // the server has 16 databases
  int fds_before = open_fd_count();
  long long clients_before = connected_clients(server);
  for (int i = 0; i < kAttempts; ++i) {
    try {
      redis::Connection connection(options);
      FAIL() << "SELECT 99 succeeded";
    } catch (const ConnectionFailed& e) {
      EXPECT_NE(std::string(e.what()).find("Selecting the database"), std::string::npos) << e.what();
    }
  }
  EXPECT_LE(open_fd_count(), fds_before + kSlack);
  EXPECT_LE(connected_clients(server), clients_before + kSlack);
}

TEST(RedisConnection, FailedTlsHandshakeReleasesItsSocket) {
  FakeServer plain("-ERR not TLS\r\n");
  RedisConnectionOptions options = plain.options();
  options.tls = true;
  options.tls_verify_peer = false;
  int fds_before = open_fd_count();
  for (int i = 0; i < kAttempts; ++i) {
    EXPECT_THROW(redis::Connection connection(options), ConnectionFailed);
  }
  EXPECT_LE(open_fd_count(), fds_before + kSlack);
}

// A server that is loading its data set answers -LOADING; with no password
// set that is no authentication failure and must not be called one.
TEST(RedisConnection, LoadingServerIsNotCalledAnAuthenticationFailure) {
  FakeServer loading("-LOADING Redis is loading the dataset in memory\r\n");
  try {
    redis::Connection connection(loading.options());
    FAIL() << "connected to a loading server";
  } catch (const ConnectionFailed& e) {
    std::string text = e.what();
    EXPECT_EQ(text.find("Authentication"), std::string::npos) << text;
    EXPECT_NE(text.find("loading its data set"), std::string::npos) << text;
  }
}

// How Ctrl-C interrupts a Python send to a server that does not answer: the
// caller's scope cuts the wait for the reply short, and the connection,
// with a reply still owed on it, is never used again.
TEST(RedisConnection, InterruptedWaitLeavesTheConnectionBroken) {
  RedisServer server;
  redis::Connection connection(server.options());
  ASSERT_FALSE(connection.call({"SET", "k", "v"}).is_error());
  server.call({"CLIENT", "PAUSE", "60000", "WRITE"});  // holds every write's reply
  int checks = 0;
  {
    InterruptibleWaits scope([&] { return ++checks < 3; }, 10ms);
    EXPECT_THROW(connection.call({"SET", "k", "w"}), WaitInterrupted);
  }
  server.call({"CLIENT", "UNPAUSE"});
  EXPECT_EQ(checks, 3);
  EXPECT_FALSE(connection.healthy());
}

// The server forgets scripts on restart or SCRIPT FLUSH: the broker and the
// rate-limit backend run them again instead of failing with NOSCRIPT.
TEST(RedisScripts, RunAgainAfterTheServerForgetsThem) {
  RedisServer server;
  RedisBrokerOptions options;
  options.connection = server.options();
  RedisBroker broker(options);
  RedisRateLimiterBackend limits(server.options());
  broker.declare_queue("default");
  broker.enqueue(make_message("a", {}));
  EXPECT_TRUE(limits.incr("counter", 1, 10, 60000));
  for (int round = 0; round < 2; ++round) {
    server.call({"SCRIPT", "FLUSH"});
    EXPECT_FALSE(broker.join("default", {.timeout = 0ms, .poll_interval = 1ms}));
    EXPECT_TRUE(limits.incr("counter", 1, 10, 60000));
  }
  EXPECT_EQ(server.call({"GET", "counter"}).str, "3");
  server.call({"SCRIPT", "FLUSH"});
  broker.flush("default");  // two scripts in one round trip, both refused
  EXPECT_TRUE(broker.join("default", {.timeout = 0ms, .poll_interval = 1ms}));
}
