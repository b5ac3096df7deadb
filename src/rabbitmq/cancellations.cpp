#include "rabbitmq/cancellations.hpp"

#include <sys/time.h>

#include <algorithm>
#include <vector>

#include "core/integer_text.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"
#include "dramatiq/wait_interruption.hpp"
#include "rabbitmq/declare.hpp"

namespace dramatiq::rabbitmq {

namespace {
constexpr const char* kLogger = "dramatiq.broker.RabbitmqBroker";
constexpr const char* kMarkerPrefix = "marker ";
// Reconnecting waits this long after a first failure, twice as long after
// each next one, up to kMaxReconnectDelay.
constexpr auto kReconnectDelay = std::chrono::milliseconds(500);
constexpr auto kMaxReconnectDelay = std::chrono::seconds(30);
constexpr auto kHistoryWait = std::chrono::seconds(10);
}  // namespace

void declare_cancellation_stream(Connection& connection) {
  const std::string stream = "stream", week = "7D";
  std::vector<amqp_table_entry_t> entries{text_entry("x-queue-type", stream), text_entry("x-max-age", week)};
  amqp_table_t arguments{static_cast<int>(entries.size()), entries.data()};
  if (!amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(kCancellationStream), 0,
                          /*durable=*/1, 0, 0, arguments)) {
    connection.check(amqp_get_rpc_reply(connection.state()), "Declaring the cancellations stream");
  }
  if (!amqp_exchange_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(kCancellationStream),
                             amqp_cstring_bytes("fanout"), 0, /*durable=*/1, 0, 0, amqp_empty_table)) {
    connection.check(amqp_get_rpc_reply(connection.state()), "Declaring the cancellations exchange");
  }
}

Publication cancellation_broadcast(const Publication& entry) {
  return Publication{"", entry.body, std::nullopt, kCancellationStream};
}

Publication cancellation_entry(const std::string& message_id, std::int64_t expires_ms) {
  return Publication{kCancellationStream, message_id + " " + std::to_string(expires_ms), std::nullopt};
}

RabbitmqCancellationWatch::RabbitmqCancellationWatch(const RabbitmqBrokerOptions& options,
                                                     CancellationCallback callback)
    : options_(options), callback_(std::move(callback)) {
  try {
    open();
  } catch (const BrokerConnectionError& e) {
    log::write(log::Level::Warning, kLogger, std::string("Could not watch cancellations yet: ") + e.what());
    connection_.reset();
  }
  thread_ = std::thread([this] { run(); });
}

RabbitmqCancellationWatch::~RabbitmqCancellationWatch() {
  stopping_ = true;  // the thread reads in slices of a few hundred ms
  if (thread_.joinable()) thread_.join();
  if (connection_) connection_->close();
}

void RabbitmqCancellationWatch::open() {
  connection_ = std::make_unique<Connection>(options_);
  Connection& c = *connection_;
  declare_cancellation_stream(c);
  if (!amqp_basic_qos(c.state(), Connection::kChannel, 0, 1000, 0)) {
    c.check(amqp_get_rpc_reply(c.state()), "Setting the prefetch of the cancellations stream");
  }
  // This watch's queue on the exchange, bound before the history is read.
  auto* live = amqp_queue_declare(c.state(), Connection::kChannel, amqp_empty_bytes, 0, 0, /*exclusive=*/1,
                                  /*auto_delete=*/1, amqp_empty_table);
  if (!live) c.check(amqp_get_rpc_reply(c.state()), "Declaring a queue for cancellations");
  std::string live_queue = string_of(live->queue);
  if (!amqp_queue_bind(c.state(), Connection::kChannel, bytes_of(live_queue), amqp_cstring_bytes(kCancellationStream),
                       amqp_empty_bytes, amqp_empty_table)) {
    c.check(amqp_get_rpc_reply(c.state()), "Binding a queue for cancellations");
  }
  if (!amqp_basic_consume(c.state(), Connection::kChannel, bytes_of(live_queue), amqp_empty_bytes, 0,
                          /*no_ack=*/1, 0, amqp_empty_table)) {
    c.check(amqp_get_rpc_reply(c.state()), "Consuming cancellations");
  }
  const std::string first = "first";
  std::vector<amqp_table_entry_t> entries{text_entry("x-stream-offset", first)};
  amqp_table_t arguments{static_cast<int>(entries.size()), entries.data()};
  if (!amqp_basic_consume(c.state(), Connection::kChannel, amqp_cstring_bytes(kCancellationStream),
                          amqp_empty_bytes, 0, /*no_ack=*/0, 0, arguments)) {
    c.check(amqp_get_rpc_reply(c.state()), "Consuming the cancellations stream");
  }
  // A marker of our own after everything appended so far: once it comes
  // back, the history is read.
  const std::string marker = kMarkerPrefix + std::to_string(current_millis()) + "-" +
                             std::to_string(reinterpret_cast<std::uintptr_t>(this));
  send_persistent(c, Publication{kCancellationStream, marker, std::nullopt}, false);
  auto deadline = std::chrono::steady_clock::now() + kHistoryWait;
  while (!read(std::chrono::milliseconds(200), marker)) {
    if (const InterruptibleWaits* scope = InterruptibleWaits::current()) scope->check();
    if (std::chrono::steady_clock::now() > deadline) {
      log::write(log::Level::Warning, kLogger, "Reading the cancellations in force took over 10 s; going on.");
      break;
    }
  }
}

bool RabbitmqCancellationWatch::read(std::chrono::milliseconds wait, const std::string& until_marker) {
  Connection& c = *connection_;
  timeval timeout{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  while (true) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(c.state());
    amqp_rpc_reply_t reply = amqp_consume_message(c.state(), &envelope, &timeout, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) {
      return false;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      amqp_frame_t frame;
      c.check_status(amqp_simple_wait_frame(c.state(), &frame), "Reading the cancellations stream");
      if (frame.frame_type == AMQP_FRAME_METHOD &&
          (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
           frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD || frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD)) {
        if (frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) throw ConnectionClosed("the stream consumer was cancelled");
        c.closed_by_server(frame.payload.method, "Reading the cancellations stream");
      }
      continue;
    }
    c.check(reply, "Reading the cancellations stream");
    std::string entry = string_of(envelope.message.body);
    std::uint64_t tag = envelope.delivery_tag;
    bool from_stream = string_of(envelope.routing_key) == kCancellationStream;  // the exchange's have none
    amqp_destroy_envelope(&envelope);
    if (from_stream) {  // the live queue's deliveries need no ack
      c.check_status(amqp_basic_ack(c.state(), Connection::kChannel, tag, 0), "Acking a cancellation");
    }
    if (entry.rfind(kMarkerPrefix, 0) == 0) {
      if (!until_marker.empty() && entry == until_marker) return true;
      continue;
    }
    auto space = entry.rfind(' ');
    if (space == std::string::npos) continue;
    auto expiry = parse_int64(std::string_view(entry).substr(space + 1));
    if (expiry && *expiry > current_millis()) callback_(entry.substr(0, space), *expiry);
    if (until_marker.empty()) timeout = timeval{0, 0};  // then only what is already here
  }
}

void RabbitmqCancellationWatch::run() {
  // A server that cannot hold the stream (RabbitMQ before 3.9) fails every
  // time: each failure after the first of a row is logged at debug only.
  auto delay = kReconnectDelay;
  bool failing = !connection_;
  while (!stopping_) {
    try {
      if (!connection_) {
        open();
        log::write(log::Level::Info, kLogger, "Watching cancellations again.");
        failing = false;
        delay = kReconnectDelay;
      }
      read(std::chrono::milliseconds(200));
    } catch (const std::exception& e) {
      if (stopping_) break;
      log::write(failing ? log::Level::Debug : log::Level::Warning, kLogger,
                 std::string("Lost the watch on cancellations: ") + e.what());
      if (connection_) connection_->abandon();
      connection_.reset();
      if (failing) delay = std::min<std::chrono::milliseconds>(delay * 2, kMaxReconnectDelay);
      failing = true;
      for (auto waited = std::chrono::milliseconds(0); waited < delay && !stopping_;
           waited += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

}  // namespace dramatiq::rabbitmq
