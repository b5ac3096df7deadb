// GroupCallbacks: enqueues a group's completion callbacks once every member
// of the group has finished successfully, counting completions with a
// Barrier on a rate limiter backend shared by all workers.
#pragma once

#include "dramatiq/middleware.hpp"
#include "dramatiq/rate_limits.hpp"

namespace dramatiq {

class GroupCallbacks : public Middleware {
 public:
  static constexpr std::int64_t kDefaultBarrierTtl = 86400000;  // one day

  explicit GroupCallbacks(RateLimiterBackendPtr backend, std::int64_t barrier_ttl = kDefaultBarrierTtl);
  std::string name() const override { return "GroupCallbacks"; }

  // Sets up the barrier a group with `parties` members counts down
  // (group_completion_uuid names it). False if it already existed.
  bool create_barrier(const std::string& completion_uuid, std::int64_t parties);

  // A message carrying group_completion_uuid and group_completion_callbacks
  // counts down its group's barrier when it succeeds; the one that clears
  // it enqueues the callbacks.
  void after_process_message(Broker&, MessageProxy&, const Value*, const Failure*) override;

  const RateLimiterBackendPtr& backend() const { return backend_; }
  std::int64_t barrier_ttl;

 private:
  RateLimiterBackendPtr backend_;
};

}  // namespace dramatiq
