#include "rabbitmq/tick_records.hpp"

#include <chrono>
#include <thread>

#include "core/integer_text.hpp"

namespace dramatiq::rabbitmq {

namespace {

// How long a scheduler waits for another's hold on a schedule's lock (a
// hold lasts a few round trips) before reporting the tick as not stored yet.
constexpr int kLockAttempts = 100;
constexpr auto kLockRetryDelay = std::chrono::milliseconds(20);

}  // namespace

Connection& TickRecords::connection() {
  if (!connection_ || !connection_->healthy()) {
    connection_.reset();
    connection_ = std::make_unique<Connection>(options_);
    transactional_ = false;
  }
  return *connection_;
}

void TickRecords::commit(const std::string& what) {
  Connection& c = *connection_;
  if (!amqp_tx_commit(c.state(), Connection::kChannel)) c.check(amqp_get_rpc_reply(c.state()), what);
}

template <typename Step>
auto TickRecords::locked(const std::string& schedule, Step step) {
  std::lock_guard guard(mutex_);
  const std::string lock = kQueuePrefix + schedule + ".lock";
  try {
    for (int attempt = 1;; ++attempt) {
      Connection& c = connection();
      auto* ok = amqp_queue_declare(c.state(), Connection::kChannel, bytes_of(lock), /*passive=*/0,
                                    /*durable=*/0, /*exclusive=*/1, /*auto_delete=*/1, amqp_empty_table);
      if (ok) break;
      try {
        c.check(amqp_get_rpc_reply(c.state()), "Taking the lock of schedule '" + schedule + "'");
      } catch (const ChannelClosed& e) {
        transactional_ = false;  // a reopened channel is not transactional
        if (e.reply_code != AMQP_RESOURCE_LOCKED || attempt == kLockAttempts) throw;
        std::this_thread::sleep_for(kLockRetryDelay);
      }
    }
    Connection& c = *connection_;
    if (!transactional_) {
      if (!amqp_tx_select(c.state(), Connection::kChannel)) {
        c.check(amqp_get_rpc_reply(c.state()), "Starting a transaction");
      }
      transactional_ = true;
    }
    auto result = step(c);
    if (!amqp_queue_delete(c.state(), Connection::kChannel, bytes_of(lock), 0, 0)) {
      c.check(amqp_get_rpc_reply(c.state()), "Releasing the lock of schedule '" + schedule + "'");
    }
    return result;
  } catch (const BrokerConnectionError&) {
    // Whatever the failure, the lock goes with the connection.
    if (connection_) connection_->abandon();
    connection_.reset();
    throw;
  }
}

TickRecords::Record TickRecords::take_record(const std::string& schedule) {
  Connection& c = *connection_;
  const std::string record = kQueuePrefix + schedule;
  if (!amqp_queue_declare(c.state(), Connection::kChannel, bytes_of(record), 0, /*durable=*/1, 0, 0,
                          amqp_empty_table)) {
    c.check(amqp_get_rpc_reply(c.state()), "Declaring the record of schedule '" + schedule + "'");
  }
  amqp_rpc_reply_t reply = amqp_basic_get(c.state(), Connection::kChannel, bytes_of(record), /*no_ack=*/0);
  c.check(reply, "Reading the record of schedule '" + schedule + "'");
  Record taken;
  if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return taken;  // get-empty: it never ticked
  taken.delivery_tag = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded)->delivery_tag;
  amqp_message_t message;
  c.check(amqp_read_message(c.state(), Connection::kChannel, &message, 0),
          "Reading the record of schedule '" + schedule + "'");
  taken.tick = parse_int64(string_of(message.body));
  amqp_destroy_message(&message);
  return taken;
}

std::optional<std::int64_t> TickRecords::last_tick(const std::string& schedule) {
  return locked(schedule, [&](Connection& c) {
    Record record = take_record(schedule);
    if (record.delivery_tag != 0) {
      c.check_status(amqp_basic_reject(c.state(), Connection::kChannel, record.delivery_tag, /*requeue=*/1),
                     "Returning the record of schedule '" + schedule + "'");
      commit("Returning the record of schedule '" + schedule + "'");
    }
    return record.tick;
  });
}

bool TickRecords::store_if_later(const std::string& schedule, std::int64_t tick_ms, const Publication& message,
                                 const std::function<void(Connection&)>& prepare) {
  return locked(schedule, [&](Connection& c) {
    Record record = take_record(schedule);
    const std::string what = "Recording tick " + std::to_string(tick_ms) + " of schedule '" + schedule + "'";
    if (record.tick && *record.tick >= tick_ms) {
      c.check_status(amqp_basic_reject(c.state(), Connection::kChannel, record.delivery_tag, 1), what);
      commit(what);
      return false;
    }
    prepare(c);
    send_persistent(c, message, false);
    send_persistent(c, Publication{kQueuePrefix + schedule, std::to_string(tick_ms), std::nullopt}, false);
    if (record.delivery_tag != 0) {
      c.check_status(amqp_basic_ack(c.state(), Connection::kChannel, record.delivery_tag, 0), what);
    }
    commit(what);
    return true;
  });
}

void TickRecords::close() {
  std::lock_guard guard(mutex_);
  if (connection_) connection_->close();
  connection_.reset();
}

}  // namespace dramatiq::rabbitmq
