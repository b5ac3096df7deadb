// The ids this broker took from each queue and has not settled yet, as far
// as the server has confirmed. A fetch whose reply was lost (the server
// went away mid-call) leaves ids in this broker's ack set that nobody
// holds; after reconnecting, a consumer compares the ack set with this
// ledger and puts the strays back on the queue. Maintenance cannot do it:
// this broker's heartbeat is still fresh.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dramatiq::redis {

class HeldMessages {
 public:
  void add(const std::string& queue, const std::vector<std::string>& ids) {
    std::lock_guard lock(mutex_);
    auto& held = held_[queue];
    held.insert(ids.begin(), ids.end());
  }

  // Called once the server confirmed the ids left this broker's ack set.
  void remove(const std::string& queue, const std::vector<std::string>& ids) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(queue);
    if (it == held_.end()) return;
    for (const auto& id : ids) it->second.erase(id);
  }

  // The ids among `members` (of the ack set) this broker does not hold.
  std::vector<std::string> strays(const std::string& queue,
                                  const std::vector<std::string>& members) const {
    std::lock_guard lock(mutex_);
    auto it = held_.find(queue);
    std::vector<std::string> unknown;
    for (const auto& id : members) {
      if (it == held_.end() || !it->second.count(id)) unknown.push_back(id);
    }
    return unknown;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::unordered_set<std::string>> held_;
};

}  // namespace dramatiq::redis
