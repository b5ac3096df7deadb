#include "redis/transport.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "dramatiq/wait_interruption.hpp"
#include "redis/plain_transport.hpp"
#include "redis/tls_transport.hpp"

namespace dramatiq::redis {

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until the deadline, as poll() wants them (-1: forever).
int poll_timeout(const Deadline& deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Under an InterruptibleWaits scope, polls in slices and asks the scope
// between them (WaitInterrupted ends the wait).
// A readable `wake_fd` (when >= 0) ends the wait as the deadline would.
bool wait_for(int fd, short events, const Deadline& deadline, int wake_fd = -1) {
  const InterruptibleWaits* scope = InterruptibleWaits::current();
  while (true) {
    pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    int timeout = poll_timeout(deadline);
    const bool sliced = scope && (timeout < 0 || timeout > scope->interval().count());
    if (sliced) timeout = static_cast<int>(scope->interval().count());
    int ready = ::poll(p, wake_fd >= 0 ? 2 : 1, timeout);
    if (ready > 0) return p[0].revents != 0;
    if (ready == 0 && !sliced) return false;
    if (ready < 0 && errno != EINTR) return false;
    if (scope) scope->check();
  }
}

// Completes a non-blocking connect() that returned EINPROGRESS.
void finish_connect(int fd, const Deadline& deadline) {
  if (!wait_for(fd, POLLOUT, deadline)) throw TransportError("connection timed out");
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) throw TransportError(std::strerror(error));
}

UniqueFd connect_unix(const std::string& path, const Deadline& deadline) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) throw TransportError("socket path too long");
  std::strcpy(address.sun_path, path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw TransportError(std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) throw TransportError(std::strerror(errno));
    finish_connect(fd.get(), deadline);
  }
  return fd;
}

UniqueFd connect_tcp(const std::string& host, int port, const Deadline& deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    throw TransportError(gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  std::string last_error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) continue;
    try {
      if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) throw TransportError(std::strerror(errno));
        finish_connect(fd.get(), deadline);
      }
    } catch (const TransportError& e) {
      last_error = e.what();
      continue;
    }
    int on = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    return fd;
  }
  throw TransportError(last_error);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

bool Transport::wait(short events, const Deadline& deadline, int wake_fd) const {
  return wait_for(fd(), events, deadline, wake_fd);
}

std::unique_ptr<Transport> open_transport(const RedisConnectionOptions& options) {
  Deadline deadline = deadline_after(options.connect_timeout);
  UniqueFd fd = options.unix_socket_path.empty() ? connect_tcp(options.host, options.port, deadline)
                                                 : connect_unix(options.unix_socket_path, deadline);
  if (options.tls) return std::make_unique<TlsTransport>(std::move(fd), options);
  return std::make_unique<PlainTransport>(std::move(fd));
}

}  // namespace dramatiq::redis
