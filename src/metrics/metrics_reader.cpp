// The reader side of metrics files: maps each file of a directory read-only
// and copies its series out with atomic loads, while the owners keep
// counting.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "dramatiq/metrics_file.hpp"
#include "metrics/file_format.hpp"

namespace dramatiq::metrics {

namespace {

template <typename T>
T load(const T& value) {
  return __atomic_load_n(&value, __ATOMIC_ACQUIRE);
}

bool has_suffix(std::string_view name, std::string_view suffix) {
  return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
}

struct FileCloser {
  int fd;
  ~FileCloser() { ::close(fd); }
};

struct Mapping {
  void* base;
  std::size_t size;
  ~Mapping() { ::munmap(base, size); }
};

// The writer holds an exclusive lock for as long as its process lives: if
// we can take a shared one, the process is gone. Where locks are not
// supported at all, only the header's live flag decides.
bool owner_alive(int fd) {
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
    return false;
  }
  return true;
}

void read_file(const std::string& path, std::vector<SeriesSnapshot>& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // removed meanwhile
  FileCloser closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size < static_cast<off_t>(sizeof(FileHeader))) return;
  auto size = static_cast<std::size_t>(info.st_size);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return;
  Mapping mapping{base, size};
  const auto* bytes = static_cast<const unsigned char*>(base);
  const auto* header = reinterpret_cast<const FileHeader*>(bytes);
  if (std::memcmp(header->magic, kMagic, sizeof kMagic) != 0) return;
  if (header->version != kFormatVersion || header->header_size != sizeof(FileHeader) ||
      header->metric_count != kMetricCount || header->bucket_count != kBucketCount) {
    return;
  }
  bool live = owner_alive(fd) && load(header->live) == 1;
  // Records published after our fstat lie beyond the mapping: the next
  // scrape sees them.
  std::size_t end =
      sizeof(FileHeader) + std::min<std::uint64_t>(load(header->used), size - sizeof(FileHeader));
  std::size_t offset = sizeof(FileHeader);
  while (offset + sizeof(SeriesRecord) <= end) {
    const auto* record = reinterpret_cast<const SeriesRecord*>(bytes + offset);
    std::size_t names = std::size_t{record->queue_len} + record->actor_len;
    if (record->size % 8 != 0 || record->size < sizeof(SeriesRecord) + names ||
        offset + record->size > end) {
      return;  // damaged: keep what was read so far
    }
    SeriesSnapshot snapshot;
    const char* text = reinterpret_cast<const char*>(record + 1);
    snapshot.queue_name.assign(text, record->queue_len);
    snapshot.actor_name.assign(text + record->queue_len, record->actor_len);
    snapshot.pid = header->pid;
    snapshot.live = live;
    snapshot.touched = load(record->touched);
    for (std::size_t i = 0; i < kMetricCount; ++i) snapshot.values[i] = load(record->values[i]);
    for (std::size_t i = 0; i < kBucketCount; ++i) snapshot.buckets[i] = load(record->buckets[i]);
    out.push_back(std::move(snapshot));
    offset += record->size;
  }
}

}  // namespace

std::vector<SeriesSnapshot> read_directory(const std::string& directory) {
  std::vector<SeriesSnapshot> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(directory.c_str()), &::closedir);
  if (!dir) return out;
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (has_suffix(name, kFileSuffix)) read_file(directory + "/" + std::string(name), out);
  }
  return out;
}

}  // namespace dramatiq::metrics
