#include "redis/plain_transport.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace dramatiq::redis {

IoResult PlainTransport::read(char* buffer, std::size_t size) {
  while (true) {
    ssize_t n = ::recv(fd(), buffer, size, 0);
    if (n > 0) return {static_cast<std::size_t>(n), 0};
    if (n == 0) throw TransportError("connection closed by the server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, POLLIN};
    throw TransportError(std::strerror(errno));
  }
}

IoResult PlainTransport::write(const char* data, std::size_t size) {
  while (true) {
    // MSG_NOSIGNAL: a peer that went away is an error to report, not a
    // SIGPIPE that ends the process.
    ssize_t n = ::send(fd(), data, size, MSG_NOSIGNAL);
    if (n > 0) return {static_cast<std::size_t>(n), 0};
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) throw TransportError(std::strerror(errno));
    return {0, POLLOUT};
  }
}

}  // namespace dramatiq::redis
