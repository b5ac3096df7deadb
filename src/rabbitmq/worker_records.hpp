// Worker records on RabbitMQ: every record is a message of the durable
// queue "dramatiq.__worker_records__" that expires (per-message TTL) when
// the record does, so the queue holds about as many records per worker as
// fit in a record's lifetime. Listing takes them all with basic.get, keeps
// each worker's newest and gives every message back; a stopping worker
// puts a record that has already expired, which hides its older ones. Two
// listings at the same moment each see only the records the other is not
// holding at that instant.
#pragma once

#include <vector>

#include "dramatiq/rabbitmq_options.hpp"
#include "dramatiq/worker_record.hpp"
#include "rabbitmq/connection.hpp"
#include "rabbitmq/publisher.hpp"

namespace dramatiq::rabbitmq {

inline constexpr const char* kWorkerRecordQueue = "dramatiq.__worker_records__";

void declare_worker_record_queue(Connection& connection);
// The message of `record`, expiring with it.
Publication worker_record_entry(const WorkerRecord& record);
// The newest record of each worker, those not expired.
std::vector<WorkerRecord> list_worker_records(const RabbitmqBrokerOptions& options);

}  // namespace dramatiq::rabbitmq
