#include "dramatiq/worker_record.hpp"

#include <stdexcept>

#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/value.hpp"

namespace dramatiq {

std::string encode_worker_record(const WorkerRecord& record) {
  Array queues;
  for (const auto& queue : record.queues) queues.emplace_back(queue);
  Object held;
  for (const auto& [queue, count] : record.held) held.emplace_back(queue, Value(count));
  Array running;
  for (const auto& message : record.running) {
    running.emplace_back(Object{{"thread", Value(static_cast<std::int64_t>(message.thread))},
                                {"message_id", message.message_id},
                                {"actor_name", message.actor_name},
                                {"queue_name", message.queue_name},
                                {"started_at", message.started_at_ms}});
  }
  auto numbers = [](const std::vector<std::int64_t>& values) {
    Array out;
    out.reserve(values.size());
    for (std::int64_t value : values) out.emplace_back(value);
    return out;
  };
  return to_json(Value(Object{{"worker_id", record.worker_id},
                              {"hostname", record.hostname},
                              {"pid", record.pid},
                              {"started_at", record.started_at_ms},
                              {"heartbeat_at", record.heartbeat_at_ms},
                              {"expires_at", record.expires_at_ms},
                              {"worker_threads", record.worker_threads},
                              {"queues", std::move(queues)},
                              {"held", std::move(held)},
                              {"running", std::move(running)},
                              {"processed", record.processed},
                              {"failed", record.failed},
                              {"retried", record.retried},
                              {"skipped", record.skipped},
                              {"recent_durations", numbers(record.recent_durations_ms)},
                              {"recent_waits", numbers(record.recent_waits_ms)}}));
}

namespace {

const Value& field(const Value& object, std::string_view key) {
  const Value* value = object.find(key);
  if (!value) throw DecodeError("a worker record has no field '" + std::string(key) + "'");
  return *value;
}

std::int64_t integer(const Value& object, std::string_view key) {
  const Value& value = field(object, key);
  if (!value.is_int()) throw DecodeError("a worker record's '" + std::string(key) + "' is not an integer");
  return value.as_int();
}

std::string text(const Value& object, std::string_view key) {
  const Value& value = field(object, key);
  if (!value.is_string()) throw DecodeError("a worker record's '" + std::string(key) + "' is not text");
  return value.as_string();
}

const Array& array(const Value& object, std::string_view key) {
  const Value& value = field(object, key);
  if (!value.is_array()) throw DecodeError("a worker record's '" + std::string(key) + "' is not a list");
  return value.as_array();
}

}  // namespace

WorkerRecord decode_worker_record(std::string_view text_in) {
  Value root;
  try {
    root = read_json(text_in);
  } catch (const std::exception& e) {
    throw DecodeError(std::string("a worker record is not JSON: ") + e.what());
  }
  if (!root.is_object()) throw DecodeError("a worker record is not a JSON object");
  WorkerRecord record;
  record.worker_id = text(root, "worker_id");
  record.hostname = text(root, "hostname");
  record.pid = integer(root, "pid");
  record.started_at_ms = integer(root, "started_at");
  record.heartbeat_at_ms = integer(root, "heartbeat_at");
  record.expires_at_ms = integer(root, "expires_at");
  record.worker_threads = static_cast<int>(integer(root, "worker_threads"));
  for (const auto& queue : array(root, "queues")) {
    if (!queue.is_string()) throw DecodeError("a worker record's queue is not text");
    record.queues.push_back(queue.as_string());
  }
  if (const Value* held = root.find("held")) {  // absent in records of older versions
    if (!held->is_object()) throw DecodeError("a worker record's 'held' is not an object");
    for (const auto& [queue, count] : held->as_object()) {
      if (!count.is_int()) throw DecodeError("a worker record's held count is not an integer");
      record.held.emplace_back(queue, count.as_int());
    }
  }
  for (const auto& message : array(root, "running")) {
    if (!message.is_object()) throw DecodeError("a worker record's running message is not an object");
    RunningMessage running;
    running.thread = static_cast<ThreadId>(integer(message, "thread"));
    running.message_id = text(message, "message_id");
    running.actor_name = text(message, "actor_name");
    running.queue_name = text(message, "queue_name");
    running.started_at_ms = integer(message, "started_at");
    record.running.push_back(std::move(running));
  }
  record.processed = integer(root, "processed");
  record.failed = integer(root, "failed");
  record.skipped = integer(root, "skipped");
  if (root.find("retried")) record.retried = integer(root, "retried");  // absent in older records
  for (auto [key, into] : {std::pair{"recent_durations", &record.recent_durations_ms},
                           std::pair{"recent_waits", &record.recent_waits_ms}}) {
    for (const auto& value : array(root, key)) {
      if (!value.is_int()) throw DecodeError(std::string("a worker record's '") + key + "' holds a non-integer");
      into->push_back(value.as_int());
    }
  }
  return record;
}

}  // namespace dramatiq
