// What a running Worker tells its broker about itself, for dashboards: a
// record put every kWorkerRecordInterval and kept by the broker until it
// expires (a worker that died stops being listed within the TTL) or the
// worker removes it when it stops. Stored as JSON, so workers of any
// language and dashboards in any process read the same thing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dramatiq/interrupt.hpp"

namespace dramatiq {

inline constexpr std::chrono::milliseconds kWorkerRecordInterval{1000};
// A record expires this many intervals after it was made: a worker that
// missed that many is no longer listed.
inline constexpr int kWorkerRecordLifetimeIntervals = 3;

// A message a worker thread runs now.
struct RunningMessage {
  ThreadId thread = 0;
  std::string message_id;
  std::string actor_name;
  std::string queue_name;
  std::int64_t started_at_ms = 0;  // wall clock, ms since the epoch
};

struct WorkerRecord {
  std::string worker_id;  // unique per Worker start
  std::string hostname;
  std::int64_t pid = 0;
  std::int64_t started_at_ms = 0;
  std::int64_t heartbeat_at_ms = 0;  // when this record was made
  std::int64_t expires_at_ms = 0;    // listed until then
  int worker_threads = 0;
  std::vector<std::string> queues;     // consumed (delay queues included)
  // Per consumed queue: messages delivered to this worker and not yet
  // settled (running, or fetched and waiting for a thread). What a broker
  // that cannot count its in-flight messages (RabbitMQ) sums instead.
  std::vector<std::pair<std::string, std::int64_t>> held;
  std::vector<RunningMessage> running;  // one per busy thread
  // Since the worker started.
  std::int64_t processed = 0;  // run to the end, failed or not
  std::int64_t failed = 0;     // whose actor (or a hook) raised
  std::int64_t retried = 0;    // of the failed, those not failed for good (re-enqueued by Retries)
  std::int64_t skipped = 0;    // cancelled before they ran, or skipped by a hook
  // Of the messages that finished since the previous record (a sample of
  // at most kTimingSamplesPerThread per thread): how long each ran, and how
  // long it had waited from when it was sent until a thread began it (for
  // a delayed message, its delay included), in ms.
  std::vector<std::int64_t> recent_durations_ms;
  std::vector<std::int64_t> recent_waits_ms;
};

inline constexpr std::size_t kTimingSamplesPerThread = 64;

std::string encode_worker_record(const WorkerRecord& record);
// Throws DecodeError for text that is not a worker record.
WorkerRecord decode_worker_record(std::string_view text);

}  // namespace dramatiq
