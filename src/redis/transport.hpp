// The byte stream under a Redis connection, as hiredis separates it from
// the protocol: a plain socket (TCP or Unix) or TLS over one (OpenSSL).
// Non-blocking reads and writes that say what to wait for when they cannot
// proceed; the socket and any TLS session are released when the transport
// is destroyed, whatever state it is in.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>

#include "dramatiq/redis_broker.hpp"

namespace dramatiq::redis {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// `timeout` from now; none (wait forever) without one.
inline Deadline deadline_after(std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) return std::nullopt;
  return std::chrono::steady_clock::now() + *timeout;
}

// A file descriptor owned by one object: closed when that object goes.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// The stream broke, the peer closed it, or a TLS handshake failed.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one non-blocking read or write did: moved `bytes` (> 0), or moved
// nothing and needs `wait_events` (POLLIN/POLLOUT: a TLS read may need to
// write first) on the socket before trying again.
struct IoResult {
  std::size_t bytes = 0;
  short wait_events = 0;
};

// A connected stream. Reads and writes throw TransportError when the
// stream is unusable (EOF included).
class Transport {
 public:
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  virtual IoResult read(char* buffer, std::size_t size) = 0;
  virtual IoResult write(const char* data, std::size_t size) = 0;
  // Bytes already received and decoded but not yet read (TLS records):
  // poll() on the socket cannot see them.
  virtual bool has_buffered_input() const { return false; }
  // Ends the session politely before the socket closes (TLS close_notify).
  // Only on a stream that still works: writing to a broken one could raise
  // SIGPIPE.
  virtual void close_gracefully() {}

  // Waits until `events` are ready on the socket; false when the deadline
  // passed first, `wake_fd` (if >= 0) became readable, or poll failed.
  bool wait(short events, const Deadline& deadline, int wake_fd = -1) const;
  int fd() const { return fd_.get(); }

 protected:
  explicit Transport(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;
};

// Connects to the server `options` names (a Unix socket, or each TCP
// address in turn) within the connect timeout, then starts TLS when
// `options.tls`. Throws TransportError; nothing it opened outlives a throw.
std::unique_ptr<Transport> open_transport(const RedisConnectionOptions& options);

}  // namespace dramatiq::redis
