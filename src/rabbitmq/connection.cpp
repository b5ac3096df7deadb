#include "rabbitmq/connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <thread>
#include <vector>

namespace dramatiq::rabbitmq {

namespace {

timeval timeval_of(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

std::string reply_text(amqp_rpc_reply_t reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by the server: " + std::to_string(close->reply_code) + " " +
               string_of(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return std::to_string(close->reply_code) + " " + string_of(close->reply_text);
      }
      return "unexpected server method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

}  // namespace

Connection::Connection(const RabbitmqBrokerOptions& options) : options_(options) {
  std::string errors;
  for (const auto& server : options.servers) {
    for (int attempt = 0; attempt < std::max(1, server.connection_attempts); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(server.retry_delay);
      try {
        open(server);
        server_ = &server;
        return;
      } catch (const ConnectionFailed& e) {
        destroy();
        if (!errors.empty()) errors += "; ";
        errors += server.describe() + ": " + e.what();
      }
    }
  }
  throw ConnectionFailed("Could not connect to RabbitMQ (" + errors + ")");
}

Connection::~Connection() { close(); }

void Connection::open(const RabbitmqConnectionOptions& server) {
  state_ = amqp_new_connection();
  if (!state_) throw ConnectionFailed("out of memory");
  amqp_socket_t* socket = nullptr;
  if (server.tls) {
    socket = amqp_ssl_socket_new(state_);
    if (!socket) throw ConnectionFailed("could not create a TLS socket");
    amqp_ssl_socket_set_verify_peer(socket, server.tls_verify_peer ? 1 : 0);
    amqp_ssl_socket_set_verify_hostname(socket, server.tls_verify_peer && server.tls_verify_hostname ? 1 : 0);
    if (!server.tls_ca_file.empty() &&
        amqp_ssl_socket_set_cacert(socket, server.tls_ca_file.c_str()) != AMQP_STATUS_OK) {
      throw ConnectionFailed("could not load the CA certificates in " + server.tls_ca_file);
    }
    if (!server.tls_cert_file.empty() &&
        amqp_ssl_socket_set_key(socket, server.tls_cert_file.c_str(),
                                (server.tls_key_file.empty() ? server.tls_cert_file : server.tls_key_file)
                                    .c_str()) != AMQP_STATUS_OK) {
      throw ConnectionFailed("could not load the client certificate " + server.tls_cert_file);
    }
  } else {
    socket = amqp_tcp_socket_new(state_);
    if (!socket) throw ConnectionFailed("could not create a socket");
  }
  timeval connect_timeout = timeval_of(server.socket_timeout);
  int status = amqp_socket_open_noblock(socket, server.host.c_str(), server.port, &connect_timeout);
  if (status != AMQP_STATUS_OK) throw ConnectionFailed(amqp_error_string2(status));
  amqp_set_handshake_timeout(state_, &connect_timeout);
  amqp_set_rpc_timeout(state_, &connect_timeout);

  // Ask for connection.blocked notifications and consumer cancellation
  // (a deleted queue cancels its consumers) on top of rabbitmq-c's own
  // capabilities, and name the client in the management UI.
  std::vector<amqp_table_entry_t> capabilities(2);
  capabilities[0].key = amqp_cstring_bytes("connection.blocked");
  capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[0].value.value.boolean = 1;
  capabilities[1].key = amqp_cstring_bytes("consumer_cancel_notify");
  capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capabilities[1].value.value.boolean = 1;
  std::vector<amqp_table_entry_t> properties(2);
  properties[0].key = amqp_cstring_bytes("capabilities");
  properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
  properties[0].value.value.table = amqp_table_t{static_cast<int>(capabilities.size()), capabilities.data()};
  properties[1].key = amqp_cstring_bytes("product");
  properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
  properties[1].value.value.bytes = amqp_cstring_bytes("dramatiq-cpp");
  amqp_table_t client_properties{static_cast<int>(properties.size()), properties.data()};

  amqp_rpc_reply_t reply = amqp_login_with_properties(
      state_, server.virtual_host.c_str(), server.channel_max, server.frame_max, server.heartbeat,
      &client_properties, AMQP_SASL_METHOD_PLAIN, server.username.c_str(), server.password.c_str());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) throw ConnectionFailed("login failed: " + reply_text(reply));
  amqp_channel_open(state_, kChannel);
  reply = amqp_get_rpc_reply(state_);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    throw ConnectionFailed("could not open a channel: " + reply_text(reply));
  }
  healthy_ = true;
  channel_open_ = true;
}

int Connection::fd() const { return state_ ? amqp_get_sockfd(state_) : -1; }
int Connection::heartbeat() const { return state_ ? amqp_get_heartbeat(state_) : 0; }

void Connection::fail(const std::string& message) {
  healthy_ = false;
  throw ConnectionClosed(message);
}

void Connection::check(amqp_rpc_reply_t reply, const std::string& what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) closed_by_server(reply.reply, what);
  fail(what + ": " + reply_text(reply));
}

void Connection::check_status(int status, const std::string& what) {
  if (status >= 0) return;
  fail(what + ": " + amqp_error_string2(status));
}

void Connection::closed_by_server(const amqp_method_t& method, const std::string& what) {
  if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* close = static_cast<amqp_channel_close_t*>(method.decoded);
    int code = close->reply_code;
    std::string text = string_of(close->reply_text);
    amqp_channel_close_ok_t close_ok{};
    channel_open_ = false;
    if (amqp_send_method(state_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok) < 0) {
      healthy_ = false;
    } else {
      try {
        reopen_channel();
      } catch (const ConnectionClosed&) {
        healthy_ = false;
      }
    }
    throw ChannelClosed(code, what + ": " + std::to_string(code) + " " + text);
  }
  std::string text = "unexpected server method";
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* close = static_cast<amqp_connection_close_t*>(method.decoded);
    text = "connection closed by the server: " + std::to_string(close->reply_code) + " " +
           string_of(close->reply_text);
    amqp_connection_close_ok_t close_ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
  }
  fail(what + ": " + text);
}

void Connection::reopen_channel() {
  amqp_channel_open(state_, kChannel);
  amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) fail("could not reopen the channel: " + reply_text(reply));
  channel_open_ = true;
}

void Connection::close() {
  if (!state_) return;
  if (healthy_) {
    // Bounded: a server that stopped answering must not hold up shutdown.
    timeval quick = timeval_of(std::chrono::milliseconds(2000));
    amqp_set_rpc_timeout(state_, &quick);
    if (channel_open_) amqp_channel_close(state_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  }
  destroy();
}

void Connection::abandon() { destroy(); }

void Connection::destroy() {
  if (state_) amqp_destroy_connection(state_);
  state_ = nullptr;
  healthy_ = false;
  channel_open_ = false;
}

}  // namespace dramatiq::rabbitmq
