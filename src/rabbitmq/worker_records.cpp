#include "rabbitmq/worker_records.hpp"

#include <algorithm>
#include <map>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"
#include "rabbitmq/basic_get.hpp"

namespace dramatiq::rabbitmq {

namespace {
// What one listing reads at most (a backstop: the queue holds a few records per worker).
constexpr std::size_t kMostRecordsRead = 100000;
}  // namespace

void declare_worker_record_queue(Connection& connection) {
  if (!amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(kWorkerRecordQueue), 0,
                          /*durable=*/1, 0, 0, amqp_empty_table)) {
    connection.check(amqp_get_rpc_reply(connection.state()), "Declaring the worker records' queue");
  }
}

Publication worker_record_entry(const WorkerRecord& record) {
  Publication entry{kWorkerRecordQueue, encode_worker_record(record), std::nullopt};
  // A stopping worker's record has expired already; it must outlive the
  // records it hides, which expire at most one lifetime after now.
  const std::int64_t now = current_millis();
  const std::int64_t lifetime = kWorkerRecordLifetimeIntervals * kWorkerRecordInterval.count();
  entry.expiration_ms = record.expires_at_ms > now ? record.expires_at_ms - now : lifetime;
  return entry;
}

std::vector<WorkerRecord> list_worker_records(const RabbitmqBrokerOptions& options) {
  Connection c(options);
  declare_worker_record_queue(c);
  auto taken = take_unacked(c, kWorkerRecordQueue, kMostRecordsRead);
  give_back_all(c, taken, "Returning the worker records");
  c.close();
  std::map<std::string, WorkerRecord> newest;
  for (const auto& one : taken) {
    try {
      WorkerRecord record = decode_worker_record(one.body);
      auto it = newest.find(record.worker_id);
      if (it == newest.end() || it->second.heartbeat_at_ms <= record.heartbeat_at_ms) {
        newest[record.worker_id] = std::move(record);
      }
    } catch (const DecodeError& e) {
      log::write(log::Level::Warning, "dramatiq.broker.RabbitmqBroker", "Skipped a worker record: %s",
                 {std::string(e.what())});
    }
  }
  const std::int64_t now = current_millis();
  std::vector<WorkerRecord> records;
  for (auto& [worker_id, record] : newest) {
    if (record.expires_at_ms > now) records.push_back(std::move(record));
  }
  return records;
}

}  // namespace dramatiq::rabbitmq
