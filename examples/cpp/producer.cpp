// Sends the example actors' messages and prints their results.
//   producer [broker-url] [results-url]
// Run a worker (this directory's, or a Python one with the same actors) on
// the same broker to get the results.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "tasks.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const char* env_url = std::getenv("DRAMATIQ_BROKER_URL");
  std::string url = argc > 1 ? argv[1] : env_url ? env_url : "redis://localhost:6379/0";
  std::string results_url = argc > 2 ? argv[2] : url;

  auto broker = dramatiq::connect(url);
  broker->add_middleware(std::make_shared<dramatiq::Results>(dramatiq::result_backend_from_url(results_url)));

  // Handles on actors a worker defines: sending needs only name, queue and types.
  dramatiq::ActorRef<tasks::Add> add(broker, "add", tasks::kOptions);
  dramatiq::ActorRef<tasks::WordCount> word_count(broker, "word_count", tasks::kOptions);
  dramatiq::ActorRef<tasks::Scale> scale(broker, "scale", tasks::kOptions);

  auto sum = add.send(2, 3);
  auto counts = word_count.send("to be or not to be");
  auto scaled = scale.send_with_options({.delay = 10ms}, {1.5, -2.0}, std::nullopt);

  std::cout << "add(2, 3) = " << sum.get_result(30s) << "\n";
  std::cout << "word_count =";
  for (const auto& [word, n] : counts.get_result(30s)) std::cout << " " << word << ":" << n;
  std::cout << "\nscale =";
  for (double v : scaled.get_result(30s)) std::cout << " " << v;
  std::cout << "\n";

  // add(1, 2), then add(3, 10): the first result is appended to the next's arguments.
  dramatiq::Pipeline chain(broker, {add.message(1, 2), dramatiq::ActorRef<int(int)>(broker, "add", tasks::kOptions).message(10)});
  chain.run();
  std::cout << "pipeline = " << chain.get_result<int>(30s) << "\n";

  dramatiq::Group squares(broker, {add.message(1, 1), add.message(2, 2), add.message(3, 3)});
  squares.run();
  std::cout << "group =";
  for (int v : squares.get_results<int>(30s)) std::cout << " " << v;
  std::cout << "\n";

  // Arguments the actor cannot take: the message fails, and its result says why.
  auto bad = dramatiq::ActorRef<int(std::string, std::string)>(broker, "add", tasks::kOptions)
                 .send_with_options({.options = {{"max_retries", 0}}}, "two", "three");
  try {
    bad.get_result(30s);
    std::cout << "bad = no error?\n";
  } catch (const dramatiq::ResultFailure& failure) {
    // The C++ worker refuses "two" for an int parameter.
    std::cout << "bad = " << failure.exception_type << ": " << failure.exception_message << "\n";
  } catch (const dramatiq::ConversionError& error) {
    // A Python worker's add("two", "three") returns "twothree": no int.
    std::cout << "bad = result is not an int: " << error.what() << "\n";
  }
  broker->close();
  return 0;
}
