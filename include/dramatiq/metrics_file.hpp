// Message metrics shared between processes through memory-mapped files.
//
// Each worker process owns one file in a metrics directory and counts into
// it with atomic operations on the mapping: a count is visible to any reader
// the moment it is made, with no lock, no system call and no Python. A
// reader (the exposition server, in another process) maps every file of the
// directory and merges them. The format is ours (docs/prometheus.md).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dramatiq::metrics {

// What a series counts, in the order of SeriesRecord::values.
enum class Metric : std::uint32_t {
  Messages = 0,    // messages processed or skipped
  Errors,          // messages whose actor raised
  Retries,         // enqueues of messages that carry a `retries` option
  Rejects,         // messages nacked (dead-lettered)
  InProgress,      // messages being processed now (gauge)
  Delayed,         // delayed messages held in memory now (gauge)
  DurationMicros,  // histogram sum, in microseconds
  Count
};
inline constexpr std::size_t kMetricCount = static_cast<std::size_t>(Metric::Count);

// The histogram's upper bounds in milliseconds (upstream Dramatiq's); a last,
// implicit bucket is +Inf.
inline constexpr std::array<double, 18> kDurationBucketsMs = {
    5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000, 30000, 60000, 600000, 900000};
inline constexpr std::size_t kBucketCount = kDurationBucketsMs.size() + 1;

// One (queue_name, actor_name) series as laid out in the file. Its queue
// and actor names follow it, padded to 8 bytes. Every number is updated
// with atomic operations (std::atomic_ref) by the owner and read the same
// way by readers.
struct SeriesRecord {
  std::uint32_t size;  // bytes, this header and the names, a multiple of 8
  std::uint32_t queue_len;
  std::uint32_t actor_len;
  std::uint32_t reserved;
  std::uint64_t touched;  // bit i set: metric i has been used (shown when scraped)
  std::int64_t values[kMetricCount];
  std::uint64_t buckets[kBucketCount];  // per bucket, not cumulative

  void add(Metric metric, std::int64_t amount);
  // Counts one duration in the histogram (Messages is counted separately).
  void observe(double milliseconds);
};

// The writer: one process's metrics file. Thread-safe.
class MetricsFile {
 public:
  // Creates a new file in `directory` (created if missing), named after the
  // process id plus a random part so that a reused pid never shares a file.
  // Throws std::system_error when the file cannot be created or mapped.
  explicit MetricsFile(const std::string& directory);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  // The record for a series, appended on first use. Stable for the life of
  // this object. nullptr when the file has reached its maximum size.
  SeriesRecord* series(std::string_view queue_name, std::string_view actor_name);
  // A process that is shut down (or not yet booted) shows no gauges; its
  // counters and histograms still count. New files start live.
  void set_live(bool live);
  const std::string& path() const { return path_; }

 private:
  SeriesRecord* append(std::string_view queue_name, std::string_view actor_name);
  std::string path_;
  int fd_ = -1;
  unsigned char* base_ = nullptr;
  std::size_t file_size_ = 0;
  std::shared_mutex mutex_;
  std::map<std::string, SeriesRecord*, std::less<>> index_;  // "queue\0actor" -> record
};

// The merged content of a metrics directory as one reader saw it.
struct SeriesSnapshot {
  std::string queue_name;
  std::string actor_name;
  std::int64_t pid = 0;
  bool live = false;  // the owning process is running and has not shut down
  std::uint64_t touched = 0;
  std::array<std::int64_t, kMetricCount> values{};
  std::array<std::uint64_t, kBucketCount> buckets{};
};

// Every series of every metrics file in `directory` (one entry per file and
// series). Files that are not ours, or damaged, are skipped.
std::vector<SeriesSnapshot> read_directory(const std::string& directory);

// Prometheus text exposition format (0.0.4) of the snapshots, with upstream
// Dramatiq's metric names, help texts and labels: counters and histograms
// summed over every process that ever wrote to the directory; in-progress
// messages summed over live processes; delayed messages per live process.
std::string render_prometheus(const std::vector<SeriesSnapshot>& snapshots);

}  // namespace dramatiq::metrics
