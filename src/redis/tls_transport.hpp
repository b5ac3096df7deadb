// A Redis stream over TLS (OpenSSL), on a TCP or Unix socket: the
// certificate checks redis-py makes (CA file, peer verification, host
// name), an optional client certificate.
#pragma once

#include <memory>

#include "redis/transport.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace dramatiq::redis {

// Owns its SSL_CTX and SSL: a handshake that fails frees them and closes
// the socket like any other end of the transport.
class TlsTransport final : public Transport {
 public:
  // Runs the handshake within the connect timeout; throws TransportError.
  TlsTransport(UniqueFd fd, const RedisConnectionOptions& options);

  IoResult read(char* buffer, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  bool has_buffered_input() const override;
  void close_gracefully() override;

 private:
  struct ContextDeleter {
    void operator()(ssl_ctx_st* context) const;
  };
  struct SessionDeleter {
    void operator()(ssl_st* ssl) const;
  };
  // Which events the operation that returned `rc` waits for; throws for
  // anything but "want read"/"want write".
  short wait_events_after(int rc) const;

  // Declared in this order so the session goes before its context.
  std::unique_ptr<ssl_ctx_st, ContextDeleter> context_;
  std::unique_ptr<ssl_st, SessionDeleter> ssl_;
};

}  // namespace dramatiq::redis
