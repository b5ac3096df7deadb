#include "rabbitmq/consumer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"
#include "rabbitmq/declare.hpp"

namespace dramatiq::rabbitmq {

namespace {
constexpr auto kSettleOnCloseTimeout = std::chrono::seconds(5);
// Deliveries read in one go before the thread looks at its outbox again.
constexpr int kMaxReadBatch = 256;

std::uint64_t tag_of(const std::string& receipt) {
  std::uint64_t tag = 0;
  std::from_chars(receipt.data(), receipt.data() + receipt.size(), tag);
  return tag;
}
}  // namespace

RabbitmqConsumer::RabbitmqConsumer(BrokerContext& context, SettlementQueue& settler, std::string queue,
                                   int prefetch)
    : context_(context), settler_(settler), queue_(std::move(queue)),
      logger_("dramatiq.broker.RabbitmqBroker.Consumer(" + queue_ + ")") {
  connection_ = std::make_unique<Connection>(context_.options());
  std::string canonical = canonical_queue_name(queue_);
  // Declared on every consumer start: a queue deleted meanwhile comes back.
  declare_all(*connection_, canonical, context_.options());
  context_.mark_declared(canonical);
  amqp_connection_state_t state = connection_->state();
  // prefetch_count is 16 bits; the worker's delay-queue prefetch fits.
  auto prefetch_count = static_cast<std::uint16_t>(std::clamp(prefetch, 1, 65535));
  if (!amqp_basic_qos(state, Connection::kChannel, 0, prefetch_count, 0)) {
    connection_->check(amqp_get_rpc_reply(state), "Setting the prefetch of queue '" + queue_ + "'");
  }
  if (!amqp_basic_consume(state, Connection::kChannel, bytes_of(queue_), amqp_empty_bytes, 0, 0, 0,
                          amqp_empty_table)) {
    connection_->check(amqp_get_rpc_reply(state), "Consuming queue '" + queue_ + "'");
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw ConnectionFailed("eventfd failed");
  lane_ = context_.register_consumer(this, queue_);
  settler_.consumer_opened();
  io_ = std::thread([this] { run(); });
}

RabbitmqConsumer::~RabbitmqConsumer() {
  try {
    close();
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_, std::string("Error closing the consumer: ") + e.what());
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void RabbitmqConsumer::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

std::shared_ptr<MessageProxy> RabbitmqConsumer::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  delivered_.wait_for(lock, timeout, [&] { return !deliveries_.empty() || error_ || closed_; });
  if (!deliveries_.empty()) {
    Delivery delivery = std::move(deliveries_.front());
    deliveries_.pop_front();
    buffered_ = deliveries_.size();
    lock.unlock();
    return decode_delivery(queue_, std::move(delivery.body), std::to_string(delivery.tag));
  }
  if (error_) throw ConnectionClosed(*error_);
  return nullptr;
}

void RabbitmqConsumer::ack(MessageProxy& message) {
  settler_.ack(lane_, message.receipt);
  if (polling_.exchange(false)) wake();
  context_.held_changed(queue_, -1);
}

void RabbitmqConsumer::nack(MessageProxy& message) {
  settler_.nack(lane_, message.receipt);
  if (polling_.exchange(false)) wake();
  context_.held_changed(queue_, -1);
}

void RabbitmqConsumer::requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) {
  if (messages.empty()) return;
  std::vector<Settlement> settlements;
  for (const auto& message : messages) settlements.push_back({tag_of(message->receipt), Fate::Requeue});
  {
    std::lock_guard lock(mutex_);
    submit_locked(std::move(settlements));
  }
  context_.held_changed(queue_, -static_cast<std::int64_t>(messages.size()));
  wake();
}

void RabbitmqConsumer::submit_locked(std::vector<Settlement> settlements) {
  submitted_ += settlements.size();
  if (error_ || !io_.joinable()) {
    processed_ += settlements.size();  // the channel is gone: the server redelivers
    return;
  }
  outbox_.insert(outbox_.end(), settlements.begin(), settlements.end());
}

void RabbitmqConsumer::settle(const SettlementQueue::Pending& pending) {
  std::vector<Settlement> settlements;
  settlements.reserve(pending.size());
  for (const auto& receipt : pending.acks) settlements.push_back({tag_of(receipt), Fate::Ack});
  for (const auto& receipt : pending.nacks) settlements.push_back({tag_of(receipt), Fate::Reject});
  std::unique_lock lock(mutex_);
  submit_locked(std::move(settlements));
  std::uint64_t target = submitted_;
  wake();
  written_.wait_for(lock, context_.options().servers.front().socket_timeout,
                    [&] { return processed_ >= target; });
}

void RabbitmqConsumer::write(const std::vector<Settlement>& settlements) {
  amqp_connection_state_t state = connection_->state();
  auto check = [&](int status) {
    connection_->check_status(status, "Settling a message of queue '" + queue_ + "'");
  };
  // Rejections and requeues first, one by one: a later multiple ack must
  // not cover a delivery meant for them.
  std::vector<std::uint64_t> acks;
  for (const auto& settlement : settlements) {
    if (settlement.fate == Fate::Ack) {
      acks.push_back(settlement.tag);
      continue;
    }
    check(amqp_basic_nack(state, Connection::kChannel, settlement.tag, 0,
                          settlement.fate == Fate::Requeue ? 1 : 0));
    unsettled_tags_.erase(settlement.tag);
  }
  if (acks.empty()) return;
  for (auto tag : acks) unsettled_tags_.erase(tag);
  // Acks below the oldest delivery still unsettled go as one multiple ack
  // (less work for the server); the others one by one.
  std::uint64_t oldest_unsettled = unsettled_tags_.empty() ? UINT64_MAX : *unsettled_tags_.begin();
  std::uint64_t highest_below = 0;
  for (auto tag : acks) {
    if (tag < oldest_unsettled) {
      highest_below = std::max(highest_below, tag);
    } else {
      check(amqp_basic_ack(state, Connection::kChannel, tag, 0));
    }
  }
  if (highest_below > 0) check(amqp_basic_ack(state, Connection::kChannel, highest_below, /*multiple=*/1));
}

std::size_t RabbitmqConsumer::read_available() {
  amqp_connection_state_t state = connection_->state();
  std::size_t count = 0;
  std::vector<Delivery> batch;
  for (int i = 0; i < kMaxReadBatch; ++i) {
    timeval immediately{0, 0};
    amqp_envelope_t envelope;
    amqp_rpc_reply_t reply = amqp_consume_message(state, &envelope, &immediately, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      unsettled_tags_.insert(envelope.delivery_tag);
      batch.push_back(Delivery{envelope.delivery_tag, string_of(envelope.message.body)});
      amqp_destroy_envelope(&envelope);
      continue;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) break;
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // Not a delivery: a cancellation or a close from the server.
      amqp_frame_t frame;
      connection_->check_status(amqp_simple_wait_frame(state, &frame), "Reading from RabbitMQ");
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
        context_.mark_pending(canonical_queue_name(queue_));
        throw ConnectionClosed("RabbitMQ cancelled the consumer of queue '" + queue_ +
                               "' (the queue was deleted?)");
      }
      if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
          frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        connection_->closed_by_server(frame.payload.method, "Consuming queue '" + queue_ + "'");
      }
      continue;
    }
    connection_->check(reply, "Consuming queue '" + queue_ + "'");
  }
  amqp_maybe_release_buffers(state);
  count = batch.size();
  if (count > 0) {
    {
      std::lock_guard lock(mutex_);
      for (auto& delivery : batch) deliveries_.push_back(std::move(delivery));
      buffered_ = deliveries_.size();
    }
    context_.held_changed(queue_, static_cast<std::int64_t>(count));
    delivered_.notify_one();
  }
  return count;
}

void RabbitmqConsumer::run() {
  try {
    amqp_connection_state_t state = connection_->state();
    // Wake at least twice per heartbeat interval: rabbitmq-c sends the
    // client's heartbeats (and notices missing server ones) while reading.
    int heartbeat = connection_->heartbeat();
    int idle_wait_ms = heartbeat > 0 ? heartbeat * 500 : 10000;
    std::vector<Settlement> settlements;
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_ && outbox_.empty()) break;
        settlements.swap(outbox_);
      }
      // Set before taking: a settlement handed in after the take wakes poll().
      polling_ = true;
      SettlementQueue::Pending pending = settler_.take(lane_);
      if (!settlements.empty()) {
        write(settlements);
        {
          std::lock_guard lock(mutex_);
          processed_ += settlements.size();
        }
        written_.notify_all();
        settlements.clear();
      }
      if (pending.size() > 0) {
        std::vector<Settlement> taken;
        for (const auto& receipt : pending.acks) taken.push_back({tag_of(receipt), Fate::Ack});
        for (const auto& receipt : pending.nacks) taken.push_back({tag_of(receipt), Fate::Reject});
        try {
          write(taken);
        } catch (...) {
          settler_.sent(lane_, pending);  // dropped with the channel: nothing to wait for
          throw;
        }
        settler_.sent(lane_, pending);
      }
      if (!amqp_frames_enqueued(state) && !amqp_data_in_buffer(state)) {
        pollfd fds[2] = {{connection_->fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        int ready = ::poll(fds, 2, idle_wait_ms);
        polling_ = false;
        if (ready < 0 && errno != EINTR) throw ConnectionClosed("poll failed");
        if (fds[1].revents & POLLIN) {
          std::uint64_t count;
          [[maybe_unused]] auto drained = ::read(wake_fd_, &count, sizeof count);
        }
      }
      read_available();
    }
    connection_->close();
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void RabbitmqConsumer::fail(const std::string& reason) {
  std::size_t dropped_deliveries;
  bool stopping;
  {
    std::lock_guard lock(mutex_);
    stopping = stopping_;
    error_ = reason;
    dropped_deliveries = deliveries_.size();
    deliveries_.clear();
    buffered_ = 0;
    outbox_.clear();
    processed_ = submitted_;
  }
  // Broken (or fed frames it could not make sense of): no polite close, whose
  // RPC would run librabbitmq on a connection state it may not survive (the
  // AMQP frame fuzzer crashed inside amqp_connection_close here).
  if (connection_) connection_->abandon();
  connection_.reset();
  if (dropped_deliveries > 0) context_.held_changed(queue_, -static_cast<std::int64_t>(dropped_deliveries));
  if (!stopping) {
    log::write(log::Level::Warning, logger_,
               "The connection of the consumer of queue '" + queue_ + "' broke: " + reason +
                   ". RabbitMQ redelivers the messages it had delivered to it.");
  }
  written_.notify_all();
  delivered_.notify_all();
}

void RabbitmqConsumer::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  delivered_.notify_all();
  // What worker threads acked reaches the I/O thread before it stops.
  settler_.flush(kSettleOnCloseTimeout);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (io_.joinable()) io_.join();
  std::size_t undelivered;
  {
    std::lock_guard lock(mutex_);
    undelivered = deliveries_.size();
    deliveries_.clear();
    buffered_ = 0;
  }
  // Closing the channel gave those back to the queue.
  if (undelivered > 0) context_.held_changed(queue_, -static_cast<std::int64_t>(undelivered));
  context_.unregister_consumer(lane_);
  settler_.consumer_closed();
}

}  // namespace dramatiq::rabbitmq
