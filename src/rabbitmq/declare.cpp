#include "rabbitmq/declare.hpp"

#include <vector>

#include "dramatiq/broker.hpp"

namespace dramatiq::rabbitmq {

amqp_table_entry_t text_entry(const char* key, const std::string& value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = bytes_of(value);
  return entry;
}

namespace {

amqp_table_entry_t int_entry(const char* key, std::int64_t value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  if (value >= INT32_MIN && value <= INT32_MAX) {
    entry.value.kind = AMQP_FIELD_KIND_I32;
    entry.value.value.i32 = static_cast<std::int32_t>(value);
  } else {
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = value;
  }
  return entry;
}

}  // namespace

std::uint32_t declare(Connection& connection, const std::string& canonical, QueueKind kind,
                      const RabbitmqBrokerOptions& options) {
  std::string name = canonical;
  std::string dead_letters = dead_letter_queue_name(canonical);
  std::string empty;
  std::vector<amqp_table_entry_t> entries;
  if (kind == QueueKind::DeadLetter) {
    name = dead_letters;
    entries.push_back(int_entry("x-message-ttl", options.dead_message_ttl_ms));
  } else {
    if (kind == QueueKind::Delay) name = delay_queue_name(canonical);
    entries.push_back(text_entry("x-dead-letter-exchange", empty));
    entries.push_back(text_entry("x-dead-letter-routing-key", dead_letters));
    if (options.max_priority && *options.max_priority > 0) {
      entries.push_back(int_entry("x-max-priority", *options.max_priority));
    }
  }
  amqp_table_t arguments{static_cast<int>(entries.size()), entries.data()};
  auto* ok = amqp_queue_declare(connection.state(), Connection::kChannel, bytes_of(name),
                                /*passive=*/0, /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, arguments);
  if (!ok) connection.check(amqp_get_rpc_reply(connection.state()), "Declaring queue '" + name + "'");
  return ok->message_count;
}

std::array<std::uint32_t, 3> declare_all(Connection& connection, const std::string& canonical,
                                         const RabbitmqBrokerOptions& options) {
  return {declare(connection, canonical, QueueKind::Main, options),
          declare(connection, canonical, QueueKind::Delay, options),
          declare(connection, canonical, QueueKind::DeadLetter, options)};
}

void purge(Connection& connection, const std::string& queue_name) {
  auto* ok = amqp_queue_purge(connection.state(), Connection::kChannel, bytes_of(queue_name));
  if (ok) return;
  try {
    connection.check(amqp_get_rpc_reply(connection.state()), "Purging queue '" + queue_name + "'");
  } catch (const ChannelClosed& e) {
    if (e.reply_code != AMQP_NOT_FOUND) throw;
  }
}

}  // namespace dramatiq::rabbitmq
