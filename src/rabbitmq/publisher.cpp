#include "rabbitmq/publisher.hpp"

#include <poll.h>
#include <sys/time.h>

#include <algorithm>

#include "dramatiq/log.hpp"

namespace dramatiq::rabbitmq {

namespace {
using Clock = std::chrono::steady_clock;
constexpr const char* kLogger = "dramatiq.broker.RabbitmqBroker";

timeval timeval_of(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}
}  // namespace

void send_persistent(Connection& connection, const Publication& publication, bool mandatory) {
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  properties.delivery_mode = 2;  // persistent
  if (publication.priority) {
    properties._flags |= AMQP_BASIC_PRIORITY_FLAG;
    properties.priority = static_cast<std::uint8_t>(std::clamp(*publication.priority, 0, 255));
  }
  std::string expiration;
  if (publication.expiration_ms) {
    expiration = std::to_string(std::max<std::int64_t>(0, *publication.expiration_ms));
    properties._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    properties.expiration = bytes_of(expiration);
  }
  int status = amqp_basic_publish(connection.state(), Connection::kChannel, bytes_of(publication.exchange),
                                  bytes_of(publication.routing_key), mandatory ? 1 : 0, 0, &properties,
                                  bytes_of(publication.body));
  connection.check_status(status, "Publishing to queue '" + publication.routing_key + "'");
}

Publisher::Publisher(const RabbitmqBrokerOptions& options, bool confirms)
    : options_(options), connection_(options), confirms_(confirms) {
  if (confirms_) {
    amqp_confirm_select(connection_.state(), Connection::kChannel);
    connection_.check(amqp_get_rpc_reply(connection_.state()), "Enabling publisher confirms");
  }
  last_used = Clock::now();
}

bool Publisher::read_frame(std::chrono::milliseconds timeout) {
  amqp_connection_state_t state = connection_.state();
  amqp_frame_t frame;
  timeval tv = timeval_of(timeout);
  int status = amqp_simple_wait_frame_noblock(state, &frame, &tv);
  if (status == AMQP_STATUS_TIMEOUT) return false;
  connection_.check_status(status, "Reading from RabbitMQ");
  if (frame.frame_type != AMQP_FRAME_METHOD) return true;  // stray header/body: nothing to do
  const amqp_method_t& method = frame.payload.method;
  switch (method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      auto* ack = static_cast<amqp_basic_ack_t*>(method.decoded);
      // Confirms arrive in order: a single ack also confirms nothing later.
      confirmed_ = std::max<std::uint64_t>(confirmed_, ack->delivery_tag);
      break;
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* nack = static_cast<amqp_basic_nack_t*>(method.decoded);
      confirmed_ = std::max<std::uint64_t>(confirmed_, nack->delivery_tag);
      nacked_ = true;
      break;
    }
    case AMQP_BASIC_RETURN_METHOD: {
      auto* returned = static_cast<amqp_basic_return_t*>(method.decoded);
      std::string routing_key = string_of(returned->routing_key);
      amqp_message_t message;
      connection_.check(amqp_read_message(state, Connection::kChannel, &message, 0),
                        "Reading a returned message");
      returned_.emplace_back(std::move(routing_key), string_of(message.body));
      amqp_destroy_message(&message);
      break;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
      auto* blocked = static_cast<amqp_connection_blocked_t*>(method.decoded);
      blocked_ = true;
      log::write(log::Level::Warning, kLogger,
                 "RabbitMQ blocked the connection: " + string_of(blocked->reason));
      break;
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      blocked_ = false;
      break;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
      connection_.closed_by_server(method, "Publishing");
    default:
      break;
  }
  return true;
}

void Publisher::poll_incoming() {
  amqp_connection_state_t state = connection_.state();
  while (amqp_frames_enqueued(state) || amqp_data_in_buffer(state)) read_frame(std::chrono::milliseconds(0));
  pollfd pfd{connection_.fd(), POLLIN, 0};
  while (::poll(&pfd, 1, 0) > 0) {
    if (!read_frame(std::chrono::milliseconds(0))) break;
    pfd.revents = 0;
  }
}

void Publisher::wait_while_blocked() {
  if (!blocked_) return;
  auto limit = connection_.server().blocked_connection_timeout;
  auto deadline = limit ? Clock::now() + *limit : Clock::time_point::max();
  while (blocked_) {
    auto now = Clock::now();
    if (now >= deadline) {
      connection_.abandon();
      throw ConnectionBlockedTimeout(
          "RabbitMQ kept the connection blocked for longer than blocked_connection_timeout");
    }
    auto slice = std::chrono::milliseconds(1000);
    if (deadline != Clock::time_point::max()) {
      slice = std::min(slice, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                  std::chrono::milliseconds(1));
    }
    read_frame(slice);
  }
}

std::vector<std::size_t> Publisher::publish(const std::vector<Publication>& publications) {
  last_used = Clock::now();
  poll_incoming();
  wait_while_blocked();
  returned_.clear();
  nacked_ = false;
  for (const auto& publication : publications) {
    send_persistent(connection_, publication, confirms_);
    if (confirms_) published_ += 1;
  }
  std::vector<std::size_t> unroutable;
  if (!confirms_) return unroutable;
  auto timeout = connection_.server().socket_timeout;
  while (confirmed_ < published_) {
    if (!read_frame(timeout)) {
      throw ConnectionClosed("RabbitMQ did not confirm the publish within socket_timeout");
    }
    if (blocked_) wait_while_blocked();
  }
  if (nacked_) throw ConnectionClosed("RabbitMQ rejected (nacked) a published message");
  for (const auto& [key, body] : returned_) {
    for (std::size_t i = 0; i < publications.size(); ++i) {
      if (publications[i].routing_key == key && publications[i].body == body &&
          std::find(unroutable.begin(), unroutable.end(), i) == unroutable.end()) {
        unroutable.push_back(i);
        break;
      }
    }
  }
  return unroutable;
}

PublisherPool::Lease PublisherPool::acquire() {
  while (true) {
    std::unique_ptr<Publisher> publisher;
    {
      std::lock_guard lock(mutex_);
      if (idle_.empty()) break;
      publisher = std::move(idle_.back());
      idle_.pop_back();
    }
    // The server drops a connection that sent no heartbeat for two
    // intervals: one idle that long is replaced rather than trusted.
    int heartbeat = publisher->connection().heartbeat();
    bool stale = heartbeat > 0 && Clock::now() - publisher->last_used > std::chrono::seconds(heartbeat);
    if (stale || publisher->confirms() != confirms_) continue;
    try {
      publisher->poll_incoming();
    } catch (const BrokerConnectionError&) {
      continue;
    }
    if (publisher->healthy()) return Lease(*this, std::move(publisher));
  }
  return Lease(*this, std::make_unique<Publisher>(options_, confirms_));
}

void PublisherPool::give_back(std::unique_ptr<Publisher> publisher) {
  if (!publisher->healthy()) return;
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(publisher));
}

void PublisherPool::set_confirms(bool confirms) {
  confirms_ = confirms;
  clear();
}

void PublisherPool::clear() {
  std::vector<std::unique_ptr<Publisher>> idle;
  {
    std::lock_guard lock(mutex_);
    idle.swap(idle_);
  }
}

}  // namespace dramatiq::rabbitmq
