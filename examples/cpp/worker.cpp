// A dramatiq worker in C++: runs the example actors until SIGINT or SIGTERM.
//   worker [broker-url] [results-url]
// The URLs default to $DRAMATIQ_BROKER_URL and the broker's URL (redis://
// and sqlite:/// keep results where they keep messages).
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "tasks.hpp"

int main(int argc, char** argv) {
  const char* env_url = std::getenv("DRAMATIQ_BROKER_URL");
  std::string url = argc > 1 ? argv[1] : env_url ? env_url : "redis://localhost:6379/0";
  std::string results_url = argc > 2 ? argv[2] : url;

  auto broker = dramatiq::connect(url);
  broker->add_middleware(std::make_shared<dramatiq::Results>(dramatiq::result_backend_from_url(results_url)));

  auto add = dramatiq::actor(broker, "add", [](int a, int b) { return a + b; }, tasks::kOptions);
  auto word_count = dramatiq::actor(
      broker, "word_count",
      [](const std::string& text) {
        std::map<std::string, int> counts;
        std::istringstream words(text);
        for (std::string word; words >> word;) counts[word] += 1;
        return counts;
      },
      tasks::kOptions);
  auto scale = dramatiq::actor(
      broker, "scale",
      [](std::vector<double> values, std::optional<double> factor) {
        for (double& v : values) {
          dramatiq::this_message::check_interrupted();  // a long loop's check point
          v *= factor.value_or(2.0);
        }
        return values;
      },
      tasks::kOptions);

  dramatiq::Worker worker(broker, {.worker_threads = 4});
  worker.start();
  std::cout << "worker ready" << std::endl;
  int signal_number = dramatiq::wait_for_shutdown_signal();
  worker.stop();
  broker->close();
  std::cout << "worker stopped (signal " << signal_number << ")" << std::endl;
  return 0;
}
