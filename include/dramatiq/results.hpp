// The Results middleware: stores what actors return (or how they failed
// for good) in a result backend, for message.get_result().
#pragma once

#include <memory>

#include "dramatiq/middleware.hpp"
#include "dramatiq/result_backend.hpp"

namespace dramatiq {

class Results : public Middleware {
 public:
  static constexpr std::int64_t kDefaultResultTtl = 600000;  // 10 minutes

  explicit Results(std::shared_ptr<ResultBackend> backend, bool store_results = false,
                   std::int64_t result_ttl = kDefaultResultTtl)
      : backend(std::move(backend)), store_results(store_results), result_ttl(result_ttl) {}
  std::string name() const override { return "Results"; }
  bool keeps_results() const override { return true; }
  std::vector<std::string> actor_options() const override { return {"store_results", "result_ttl"}; }

  void after_process_message(Broker&, MessageProxy&, const Value* result, const Failure* failure) override;
  void after_skip_message(Broker&, MessageProxy&) override;
  void after_nack(Broker&, MessageProxy&) override;

  std::shared_ptr<ResultBackend> backend;
  bool store_results;
  std::int64_t result_ttl;

 private:
  struct Settings {
    bool store = false;
    std::int64_t ttl = 0;
  };
  // The message's option, else the actor's, else this middleware's.
  Settings settings_for(Broker& broker, const MessageProxy& message) const;
};

}  // namespace dramatiq
