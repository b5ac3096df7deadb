#include "redis/tls_transport.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <string>

namespace dramatiq::redis {

namespace {

std::string ssl_error_text() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "TLS error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

}  // namespace

void TlsTransport::ContextDeleter::operator()(ssl_ctx_st* context) const { SSL_CTX_free(context); }
void TlsTransport::SessionDeleter::operator()(ssl_st* ssl) const { SSL_free(ssl); }

TlsTransport::TlsTransport(UniqueFd fd, const RedisConnectionOptions& options)
    : Transport(std::move(fd)), context_(SSL_CTX_new(TLS_client_method())) {
  if (!context_) throw TransportError(ssl_error_text());
  SSL_CTX* context = context_.get();
  if (!options.tls_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context, options.tls_ca_file.c_str(), nullptr) != 1) {
      throw TransportError("cannot load CA file " + options.tls_ca_file + ": " + ssl_error_text());
    }
  } else {
    SSL_CTX_set_default_verify_paths(context);
  }
  SSL_CTX_set_verify(context, options.tls_verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!options.tls_cert_file.empty() &&
      SSL_CTX_use_certificate_chain_file(context, options.tls_cert_file.c_str()) != 1) {
    throw TransportError("cannot load certificate " + options.tls_cert_file + ": " + ssl_error_text());
  }
  if (!options.tls_key_file.empty() &&
      SSL_CTX_use_PrivateKey_file(context, options.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw TransportError("cannot load key " + options.tls_key_file + ": " + ssl_error_text());
  }
  ssl_.reset(SSL_new(context));
  if (!ssl_) throw TransportError(ssl_error_text());
  SSL* ssl = ssl_.get();
  // The socket BIO does not own the descriptor: the transport closes it.
  SSL_set_fd(ssl, this->fd());
  if (options.unix_socket_path.empty()) {
    in6_addr ip_address;
    bool is_ip = inet_pton(AF_INET, options.host.c_str(), &ip_address) == 1 ||
                 inet_pton(AF_INET6, options.host.c_str(), &ip_address) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl, options.host.c_str());
    if (options.tls_verify_peer && options.tls_check_hostname) {
      // The certificate must name the host we dialled (an IP address must
      // be among its IP subjectAltNames), as Python's ssl checks it.
      X509_VERIFY_PARAM* check = SSL_get0_param(ssl);
      int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(check, options.host.c_str())
                     : X509_VERIFY_PARAM_set1_host(check, options.host.c_str(), 0);
      if (ok != 1) throw TransportError("cannot check the certificate against " + options.host);
    }
  }
  Deadline deadline = deadline_after(options.connect_timeout);
  while (true) {
    int rc = SSL_connect(ssl);
    if (rc == 1) return;
    int error = SSL_get_error(ssl, rc);
    short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) throw TransportError("TLS handshake failed: " + ssl_error_text());
    if (!wait(events, deadline)) throw TransportError("TLS handshake timed out");
  }
}

short TlsTransport::wait_events_after(int rc) const {
  int error = SSL_get_error(ssl_.get(), rc);
  if (error == SSL_ERROR_WANT_READ) return POLLIN;
  if (error == SSL_ERROR_WANT_WRITE) return POLLOUT;
  if (error == SSL_ERROR_ZERO_RETURN) throw TransportError("connection closed by the server");
  throw TransportError(ssl_error_text());
}

IoResult TlsTransport::read(char* buffer, std::size_t size) {
  int n = SSL_read(ssl_.get(), buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
  if (n > 0) return {static_cast<std::size_t>(n), 0};
  return {0, wait_events_after(n)};
}

IoResult TlsTransport::write(const char* data, std::size_t size) {
  int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
  if (n > 0) return {static_cast<std::size_t>(n), 0};
  return {0, wait_events_after(n)};
}

bool TlsTransport::has_buffered_input() const { return SSL_pending(ssl_.get()) > 0; }

void TlsTransport::close_gracefully() { SSL_shutdown(ssl_.get()); }

}  // namespace dramatiq::redis
