// Cross-process wake-ups for the embedded broker: a small file mapped by
// every process that opens the same database, holding one futex per slot
// (queues hash onto slots). Producers ring a queue's slot after their
// commit; idle consumers sleep on it instead of polling the table.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace dramatiq::sqlite {

class Doorbell {
 public:
  // Maps `path` (created, sized and zeroed on first use).
  explicit Doorbell(const std::string& path);
  ~Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  // A ticket to wait with: read it *before* looking at the table, so a
  // ring after the look is never missed.
  std::uint32_t ticket(const std::string& queue) const;
  // Wakes every process waiting on `queue`'s slot.
  void ring(const std::string& queue);
  // Sleeps until `queue`'s slot rings after `ticket` was read, or until
  // `deadline`. True if it rang.
  bool wait(const std::string& queue, std::uint32_t ticket,
            std::chrono::steady_clock::time_point deadline);

  // How many records every process has appended to its spool (wrapping):
  // a drainer with nothing left to move looks again only once it changed.
  std::uint32_t spool_appends() const { return spool_appends_->load(); }
  void count_spool_append() { spool_appends_->fetch_add(1); }

 private:
  struct Slot {
    std::atomic<std::uint32_t> rings;
    std::atomic<std::uint32_t> sleepers;
  };
  static constexpr std::size_t kSlots = 256;
  Slot& slot(const std::string& queue) const;

  Slot* slots_ = nullptr;
  std::atomic<std::uint32_t>* spool_appends_ = nullptr;  // after the slots
};

}  // namespace dramatiq::sqlite
