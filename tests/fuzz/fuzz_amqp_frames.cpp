// What a RabbitMQ server sends after the handshake, as the broker handles
// it: the input is a program of server frames (deliveries with any body,
// publisher confirms with any delivery tag, returned messages, connection
// blocked/unblocked, channel and connection closes, consumer cancellation,
// heartbeats, stray headers and bodies, raw bytes) written by a fake server
// on a loopback socket after a well-formed handshake, then end of stream.
// rabbitmq-c parses the frames; what the engine does with them is under
// test: a publish (with or without confirms) or a consumer reading,
// decoding and settling deliveries must end in a result or a
// BrokerConnectionError, never a crash or a hang.
#include <amqp.h>
#include <amqp_framing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/rabbitmq_broker.hpp"
#include "fuzz_support.hpp"

using namespace dramatiq;
using dramatiq::fuzz::Input;

namespace {

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}
void put64(std::string& out, std::uint64_t v) {
  put32(out, static_cast<std::uint32_t>(v >> 32));
  put32(out, static_cast<std::uint32_t>(v & 0xFFFFFFFF));
}

void frame(std::string& out, std::uint8_t type, std::uint16_t channel, std::string_view payload) {
  out.push_back(static_cast<char>(type));
  put16(out, channel);
  put32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  out.push_back(static_cast<char>(AMQP_FRAME_END));
}

void method(std::string& out, std::uint16_t channel, amqp_method_number_t id, void* decoded) {
  static char buffer[65536];
  amqp_bytes_t encoded{sizeof buffer, buffer};
  int length = amqp_encode_method(id, decoded, encoded);
  if (length < 0) dramatiq::fuzz::invariant_failed("amqp_encode_method failed");
  std::string payload;
  put32(payload, id);
  payload.append(buffer, static_cast<std::size_t>(length));
  frame(out, AMQP_FRAME_METHOD, channel, payload);
}

amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

void content(std::string& out, std::uint16_t channel, std::string_view body, std::uint64_t declared_size) {
  std::string header;
  put16(header, 60);  // basic
  put16(header, 0);   // weight
  put64(header, declared_size);
  put16(header, 0);   // no properties
  frame(out, AMQP_FRAME_HEADER, channel, header);
  if (!body.empty()) frame(out, AMQP_FRAME_BODY, channel, body);
}

std::string handshake(bool consumer, bool confirms) {
  std::string out;
  amqp_connection_start_t start{};
  start.version_major = 0;
  start.version_minor = 9;
  start.mechanisms = amqp_cstring_bytes("PLAIN");
  start.locales = amqp_cstring_bytes("en_US");
  method(out, 0, AMQP_CONNECTION_START_METHOD, &start);
  amqp_connection_tune_t tune{2047, 131072, 0};
  method(out, 0, AMQP_CONNECTION_TUNE_METHOD, &tune);
  amqp_connection_open_ok_t open_ok{amqp_empty_bytes};
  method(out, 0, AMQP_CONNECTION_OPEN_OK_METHOD, &open_ok);
  amqp_channel_open_ok_t channel_ok{amqp_empty_bytes};
  method(out, 1, AMQP_CHANNEL_OPEN_OK_METHOD, &channel_ok);
  if (confirms) {
    amqp_confirm_select_ok_t select_ok{};
    method(out, 1, AMQP_CONFIRM_SELECT_OK_METHOD, &select_ok);
  }
  const std::string names[] = {"q", "q.DQ", "q.XQ"};
  for (const auto& name : names) {
    amqp_queue_declare_ok_t declare_ok{bytes(name), 0, 0};
    method(out, 1, AMQP_QUEUE_DECLARE_OK_METHOD, &declare_ok);
  }
  if (consumer) {
    amqp_basic_qos_ok_t qos_ok{};
    method(out, 1, AMQP_BASIC_QOS_OK_METHOD, &qos_ok);
    amqp_basic_consume_ok_t consume_ok{amqp_cstring_bytes("ctag")};
    method(out, 1, AMQP_BASIC_CONSUME_OK_METHOD, &consume_ok);
  }
  return out;
}

std::string server_frames(Input& in) {
  std::string out;
  for (int ops = 0; !in.empty() && ops < 64; ++ops) {
    std::uint8_t op = in.byte();
    std::uint16_t channel = (op & 0x80) ? in.byte() % 3 : 1;
    switch (op % 12) {
      case 0:
      case 1: {
        std::uint8_t tag_byte = in.byte();
        std::uint64_t tag = (tag_byte & 0x80) ? in.number<std::uint64_t>() : tag_byte % 8;
        bool multiple = in.byte() & 1;
        if (op % 12 == 0) {
          amqp_basic_ack_t ack{tag, multiple};
          method(out, channel, AMQP_BASIC_ACK_METHOD, &ack);
        } else {
          amqp_basic_nack_t nack{tag, multiple, 0};
          method(out, channel, AMQP_BASIC_NACK_METHOD, &nack);
        }
        break;
      }
      case 2: {
        std::string text = in.bytes(16), key = (in.byte() & 1) ? "q" : in.bytes(8);
        amqp_basic_return_t returned{in.number<std::uint16_t>(), bytes(text), amqp_empty_bytes, bytes(key)};
        method(out, channel, AMQP_BASIC_RETURN_METHOD, &returned);
        std::string body = in.bytes(255);
        content(out, channel, body, (in.byte() & 1) ? body.size() : in.byte());
        break;
      }
      case 3: {
        std::string reason = in.bytes(16);
        amqp_connection_blocked_t blocked{bytes(reason)};
        method(out, 0, AMQP_CONNECTION_BLOCKED_METHOD, &blocked);
        break;
      }
      case 4: {
        amqp_connection_unblocked_t unblocked{};
        method(out, 0, AMQP_CONNECTION_UNBLOCKED_METHOD, &unblocked);
        break;
      }
      case 5: {
        std::string text = in.bytes(16);
        amqp_channel_close_t close{in.number<std::uint16_t>(), bytes(text), 60, 40};
        method(out, channel, AMQP_CHANNEL_CLOSE_METHOD, &close);
        break;
      }
      case 6: {
        std::string text = in.bytes(16);
        amqp_connection_close_t close{in.number<std::uint16_t>(), bytes(text), 0, 0};
        method(out, 0, AMQP_CONNECTION_CLOSE_METHOD, &close);
        break;
      }
      case 7:
        frame(out, AMQP_FRAME_HEARTBEAT, 0, {});
        break;
      case 8: {
        std::uint8_t flags = in.byte();
        std::uint64_t tag = (flags & 0x80) ? in.number<std::uint64_t>() : 1 + flags % 16;
        std::string body(in.bytes(255));
        if (flags & 0x40) body += in.bytes(255);
        amqp_basic_deliver_t deliver{amqp_cstring_bytes("ctag"), tag, static_cast<amqp_boolean_t>(flags & 1),
                                     amqp_empty_bytes, amqp_cstring_bytes("q")};
        method(out, channel, AMQP_BASIC_DELIVER_METHOD, &deliver);
        content(out, channel, body, (flags & 0x20) ? in.byte() : body.size());
        break;
      }
      case 9:
        out += in.bytes(32);
        break;
      case 10: {
        amqp_basic_cancel_t cancel{amqp_cstring_bytes("ctag"), 1};
        method(out, channel, AMQP_BASIC_CANCEL_METHOD, &cancel);
        break;
      }
      case 11: {
        std::string body = in.bytes(32);
        if (in.byte() & 1) {
          content(out, channel, body, in.byte());
        } else {
          frame(out, AMQP_FRAME_BODY, channel, body);
        }
        break;
      }
    }
  }
  return out;
}

// A loopback listener that plays `script` to every connection it accepts
// and then ends its side of the stream.
class FakeServer {
 public:
  FakeServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0) {
      dramatiq::fuzz::invariant_failed("cannot listen on loopback");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  int port() const { return port_; }

  void start(std::string script) {
    script_ = std::move(script);
    stop_ = false;
    thread_ = std::thread([this] { serve(); });
  }

  void stop() {
    stop_ = true;
    thread_.join();
    for (int fd : accepted_) ::close(fd);
    accepted_.clear();
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd pfd{listener_, POLLIN, 0};
      if (::poll(&pfd, 1, 5) <= 0) continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      accepted_.push_back(fd);
      std::size_t written = 0;
      while (written < script_.size()) {
        ssize_t n = ::send(fd, script_.data() + written, script_.size() - written, MSG_NOSIGNAL);
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
      }
      ::shutdown(fd, SHUT_WR);
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::string script_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> accepted_;
};

RabbitmqBrokerOptions options_for(int port, bool confirms) {
  RabbitmqBrokerOptions options;
  auto& server = options.servers.front();
  server.host = "127.0.0.1";
  server.port = port;
  server.heartbeat = 0;
  server.connection_attempts = 1;
  server.socket_timeout = std::chrono::milliseconds(1000);
  server.blocked_connection_timeout = std::chrono::milliseconds(1000);
  options.confirm_delivery = confirms;
  options.max_enqueue_attempts = 1;
  options.max_declare_attempts = 1;
  return options;
}

void publish(RabbitmqBroker& broker) {
  for (int i = 0; i < 2; ++i) {
    try {
      broker.enqueue(Message::create("q", "actor", Value::array(), Value::object(), Value::object()));
    } catch (const BrokerError&) {
    }
  }
}

void consume(RabbitmqBroker& broker) {
  std::unique_ptr<Consumer> consumer;
  try {
    consumer = broker.consume("q", 4);
    for (int i = 0; i < 64; ++i) {
      auto delivery = consumer->next(std::chrono::milliseconds(100));
      if (!delivery) break;
      if (delivery->decode_error) {
        consumer->nack(*delivery);
      } else {
        consumer->ack(*delivery);
      }
    }
  } catch (const BrokerError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_sink([](const log::Record&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FakeServer server;
  Input in(data, size);
  const std::uint8_t mode = in.byte();
  const bool consumer = mode & 1, confirms = mode & 2;
  server.start(handshake(consumer, confirms) + server_frames(in));
  {
    RabbitmqBroker broker(options_for(server.port(), confirms));
    if (consumer) {
      consume(broker);
    } else {
      publish(broker);
    }
    broker.close();
  }
  server.stop();
  return 0;
}
