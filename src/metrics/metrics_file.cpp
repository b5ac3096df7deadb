// The writer side of a metrics file (see dramatiq/metrics_file.hpp).
//
// Why a memory-mapped file of our own: counting must not touch Python or
// make a system call per message, yet the exposition server in another
// process must see current numbers at any time, and the numbers of worker
// processes that died must still add up. Atomic adds on a shared mapping
// give all three. The format is fixed-layout records (no parsing on the hot
// path), appended once per (queue, actor) series and never moved.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "dramatiq/metrics_file.hpp"
#include "metrics/file_format.hpp"

namespace dramatiq::metrics {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string random_hex() {
  std::random_device device;
  std::uint64_t bits = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(bits));
  return text;
}

std::size_t padded(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

}  // namespace

void SeriesRecord::add(Metric metric, std::int64_t amount) {
  auto index = static_cast<std::size_t>(metric);
  std::uint64_t bit = std::uint64_t{1} << index;
  // Set once; a plain load first keeps the common case free of a second
  // read-modify-write.
  std::atomic_ref<std::uint64_t> flags(touched);
  if (!(flags.load(std::memory_order_relaxed) & bit)) flags.fetch_or(bit, std::memory_order_relaxed);
  std::atomic_ref<std::int64_t>(values[index]).fetch_add(amount, std::memory_order_relaxed);
}

void SeriesRecord::observe(double milliseconds) {
  std::size_t bucket = 0;
  while (bucket < kDurationBucketsMs.size() && milliseconds > kDurationBucketsMs[bucket]) ++bucket;
  std::atomic_ref<std::uint64_t>(buckets[bucket]).fetch_add(1, std::memory_order_relaxed);
  add(Metric::DurationMicros, static_cast<std::int64_t>(milliseconds * 1000.0 + 0.5));
}

MetricsFile::MetricsFile(const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  std::string stem = directory + "/worker-" + std::to_string(::getpid()) + "-" + random_hex();
  // Readers only look at finished files: the file is built under a name
  // they ignore, locked (the lock says "my process is alive"), then renamed.
  std::string building = stem + ".tmp";
  path_ = stem + kFileSuffix;
  fd_ = ::open(building.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("cannot create metrics file " + building);
  try {
    // Nobody else knows this name yet, so this can only fail where the file
    // system has no locks; readers then go by the header's live flag alone.
    (void)::flock(fd_, LOCK_EX | LOCK_NB);
    if (::ftruncate(fd_, static_cast<off_t>(kInitialFileSize)) != 0) throw_errno("cannot size " + building);
    file_size_ = kInitialFileSize;
    // Reserve the largest size once so records never move; only the part
    // within the file's current size is ever touched.
    void* base = ::mmap(nullptr, kMaxFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (base == MAP_FAILED) throw_errno("cannot map " + building);
    base_ = static_cast<unsigned char*>(base);
    auto* header = reinterpret_cast<FileHeader*>(base_);
    header->version = kFormatVersion;
    header->header_size = sizeof(FileHeader);
    header->metric_count = kMetricCount;
    header->bucket_count = kBucketCount;
    header->pid = ::getpid();
    std::atomic_ref<std::uint32_t>(header->live).store(1, std::memory_order_relaxed);
    std::memcpy(header->magic, kMagic, sizeof header->magic);
    std::atomic_thread_fence(std::memory_order_release);
    if (::rename(building.c_str(), path_.c_str()) != 0) throw_errno("cannot rename " + building);
  } catch (...) {
    if (base_) ::munmap(base_, kMaxFileSize);
    ::close(fd_);
    ::unlink(building.c_str());
    throw;
  }
}

MetricsFile::~MetricsFile() {
  // The file stays: its counts remain part of the totals after we are gone.
  // Closing drops the lock, which tells readers this process has ended.
  if (base_) ::munmap(base_, kMaxFileSize);
  if (fd_ >= 0) ::close(fd_);
}

void MetricsFile::set_live(bool live) {
  auto* header = reinterpret_cast<FileHeader*>(base_);
  std::atomic_ref<std::uint32_t>(header->live).store(live ? 1 : 0, std::memory_order_release);
}

SeriesRecord* MetricsFile::series(std::string_view queue_name, std::string_view actor_name) {
  // One reusable key buffer per thread: no allocation once it has grown.
  thread_local std::string key;
  key.assign(queue_name);
  key.push_back('\0');
  key.append(actor_name);
  {
    std::shared_lock lock(mutex_);
    auto found = index_.find(key);
    if (found != index_.end()) return found->second;
  }
  std::unique_lock lock(mutex_);
  auto found = index_.find(key);
  if (found != index_.end()) return found->second;
  SeriesRecord* record = append(queue_name, actor_name);
  if (record) index_.emplace(key, record);
  return record;
}

SeriesRecord* MetricsFile::append(std::string_view queue_name, std::string_view actor_name) {
  auto* header = reinterpret_cast<FileHeader*>(base_);
  std::atomic_ref<std::uint64_t> used(header->used);
  std::size_t offset = sizeof(FileHeader) + used.load(std::memory_order_relaxed);
  std::size_t size = sizeof(SeriesRecord) + padded(queue_name.size() + actor_name.size());
  if (offset + size > kMaxFileSize) return nullptr;
  if (offset + size > file_size_) {
    std::size_t grown = file_size_;
    while (grown < offset + size) grown *= 2;
    grown = std::min(grown, kMaxFileSize);
    if (::ftruncate(fd_, static_cast<off_t>(grown)) != 0) return nullptr;
    file_size_ = grown;
  }
  // The new space is zeroed by the file system; fill in the names, then
  // publish by moving `used` past the record.
  auto* record = reinterpret_cast<SeriesRecord*>(base_ + offset);
  record->size = static_cast<std::uint32_t>(size);
  record->queue_len = static_cast<std::uint32_t>(queue_name.size());
  record->actor_len = static_cast<std::uint32_t>(actor_name.size());
  char* names = reinterpret_cast<char*>(record + 1);
  std::memcpy(names, queue_name.data(), queue_name.size());
  std::memcpy(names + queue_name.size(), actor_name.data(), actor_name.size());
  used.store(offset + size - sizeof(FileHeader), std::memory_order_release);
  return record;
}

}  // namespace dramatiq::metrics
