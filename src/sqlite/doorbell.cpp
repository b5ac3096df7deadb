#include "sqlite/doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "dramatiq/errors.hpp"

namespace dramatiq::sqlite {

namespace {
// The atomics live in memory shared between processes: they must be plain
// words, with no lock inside.
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
constexpr std::size_t kFileSize = 4096;

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) {
  // Not FUTEX_PRIVATE_FLAG: the waiters are in other processes.
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}
}  // namespace

Doorbell::Doorbell(const std::string& path) {
  static_assert(sizeof(Slot) * kSlots + sizeof(std::atomic<std::uint32_t>) <= kFileSize);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw ConnectionFailed("Cannot open the embedded broker's doorbell file " + path + ": " +
                           std::strerror(errno));
  }
  struct stat info{};
  if (::fstat(fd, &info) != 0 ||
      (info.st_size < static_cast<off_t>(kFileSize) && ::ftruncate(fd, kFileSize) != 0)) {
    int error = errno;
    ::close(fd);
    throw ConnectionFailed("Cannot size the embedded broker's doorbell file " + path + ": " +
                           std::strerror(error));
  }
  void* memory = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int error = errno;
  ::close(fd);
  if (memory == MAP_FAILED) {
    throw ConnectionFailed("Cannot map the embedded broker's doorbell file " + path + ": " +
                           std::strerror(error));
  }
  slots_ = static_cast<Slot*>(memory);
  spool_appends_ = reinterpret_cast<std::atomic<std::uint32_t>*>(slots_ + kSlots);
}

Doorbell::~Doorbell() {
  if (slots_) ::munmap(slots_, kFileSize);
}

Doorbell::Slot& Doorbell::slot(const std::string& queue) const { return slots_[fnv1a(queue) % kSlots]; }

std::uint32_t Doorbell::ticket(const std::string& queue) const { return slot(queue).rings.load(); }

void Doorbell::ring(const std::string& queue) {
  Slot& s = slot(queue);
  s.rings.fetch_add(1);
  // Sequentially consistent with wait()'s sleepers increment: either the
  // sleeper sees the new ring count (and does not sleep) or this sees the
  // sleeper. No sleeper, no system call.
  if (s.sleepers.load() > 0) futex(&s.rings, FUTEX_WAKE, INT_MAX, nullptr);
}

bool Doorbell::wait(const std::string& queue, std::uint32_t ticket,
                    std::chrono::steady_clock::time_point deadline) {
  Slot& s = slot(queue);
  s.sleepers.fetch_add(1);
  while (s.rings.load() == ticket) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec timeout{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    long rc = futex(&s.rings, FUTEX_WAIT, ticket, &timeout);
    if (rc != 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT) break;
  }
  s.sleepers.fetch_sub(1);
  return s.rings.load() != ticket;
}

}  // namespace dramatiq::sqlite
