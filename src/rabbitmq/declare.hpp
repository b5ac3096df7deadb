// Declaring a broker's queues as upstream Dramatiq declares them, so that
// either side may declare first: "<q>" and "<q>.DQ" durable, dead-lettering
// to "<q>.XQ" through the default exchange (with x-max-priority when the
// broker has a max_priority); "<q>.XQ" durable with the dead-message TTL.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "dramatiq/rabbitmq_options.hpp"
#include "rabbitmq/connection.hpp"

namespace dramatiq::rabbitmq {

enum class QueueKind { Main, Delay, DeadLetter };

// Declares one of the three queues of `canonical` (idempotent); returns its
// count of ready messages (queue.declare-ok's message_count).
// A table entry of text ('S', as pika encodes a str); `value` must outlive
// the table's use. RabbitMQ compares argument types when a queue is
// declared again, so another type would fail with PRECONDITION_FAILED.
amqp_table_entry_t text_entry(const char* key, const std::string& value);

std::uint32_t declare(Connection& connection, const std::string& canonical, QueueKind kind,
                      const RabbitmqBrokerOptions& options);

// Declares all three; returns their ready counts (main, delay, dead letters).
std::array<std::uint32_t, 3> declare_all(Connection& connection, const std::string& canonical,
                                         const RabbitmqBrokerOptions& options);

// Drops the ready messages of one queue; a queue that does not exist is
// nothing to purge.
void purge(Connection& connection, const std::string& queue_name);

}  // namespace dramatiq::rabbitmq
