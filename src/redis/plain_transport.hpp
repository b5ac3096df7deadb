// A Redis stream straight over a socket: TCP or a Unix socket alike.
#pragma once

#include "redis/transport.hpp"

namespace dramatiq::redis {

// recv()/send() on a non-blocking socket.
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(UniqueFd fd) : Transport(std::move(fd)) {}

  IoResult read(char* buffer, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
};

}  // namespace dramatiq::redis
