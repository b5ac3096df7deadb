// The on-disk layout of a metrics file, shared by its writer and readers
// (engine-private; docs/prometheus.md describes it).
//
//   FileHeader (64 bytes) | SeriesRecord + names | SeriesRecord + names | ...
//
// Native byte order: the file is only ever read on the machine that wrote it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dramatiq/metrics_file.hpp"

namespace dramatiq::metrics {

inline constexpr char kMagic[8] = {'D', 'Q', 'M', 'E', 'T', 'R', 'I', 'C'};
inline constexpr std::uint32_t kFormatVersion = 1;
// Only files with this suffix are read (the directory may hold other files,
// e.g. prometheus_client's from upstream workers on the same host).
inline constexpr const char* kFileSuffix = ".dramatiq-metrics";
inline constexpr std::size_t kInitialFileSize = 64 * 1024;
// About 70,000 series; a process that needs more stops adding series.
inline constexpr std::size_t kMaxFileSize = 16 * 1024 * 1024;

struct FileHeader {
  char magic[8];               // kMagic, written last
  std::uint32_t version;       // kFormatVersion
  std::uint32_t header_size;   // sizeof(FileHeader)
  std::uint32_t metric_count;  // kMetricCount
  std::uint32_t bucket_count;  // kBucketCount
  std::int64_t pid;            // the writing process
  std::uint64_t used;          // bytes of records after the header (atomic, release)
  std::uint32_t live;          // 1 while the process's worker runs (atomic)
  std::uint32_t reserved[5];
};

static_assert(sizeof(FileHeader) == 64);
static_assert(sizeof(SeriesRecord) % 8 == 0);
static_assert(offsetof(SeriesRecord, values) % 8 == 0);
static_assert(offsetof(SeriesRecord, buckets) % 8 == 0);

}  // namespace dramatiq::metrics
