#include "dramatiq/shutdown_signal.hpp"

#include <semaphore.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <stdexcept>

namespace dramatiq {

namespace {
// What the handler may touch: sem_post and an atomic int are async-signal-safe.
sem_t shutdown_semaphore;
std::atomic<int> received_signal{0};
std::once_flag semaphore_once;
std::mutex waiting_mutex;  // one wait at a time (the handlers are process-wide)

extern "C" void on_shutdown_signal(int signal_number) {
  received_signal.store(signal_number);
  sem_post(&shutdown_semaphore);
}
}  // namespace

int wait_for_shutdown_signal(const std::function<void()>& on_waiting) {
  std::lock_guard waiting(waiting_mutex);
  std::call_once(semaphore_once, [] { sem_init(&shutdown_semaphore, 0, 0); });
  while (sem_trywait(&shutdown_semaphore) == 0) {
  }  // forget posts of an earlier wait
  received_signal.store(0);

  struct sigaction action {};
  action.sa_handler = on_shutdown_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction previous_int {}, previous_term {};
  if (sigaction(SIGINT, &action, &previous_int) != 0 || sigaction(SIGTERM, &action, &previous_term) != 0) {
    throw std::runtime_error("cannot install the SIGINT/SIGTERM handlers");
  }
  if (on_waiting) on_waiting();
  while (sem_wait(&shutdown_semaphore) != 0 && errno == EINTR) {
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  return received_signal.load();
}

int run_until_shutdown_signal(Worker& worker, std::chrono::milliseconds stop_timeout) {
  worker.start();
  int signal_number = wait_for_shutdown_signal();
  worker.stop(stop_timeout);
  return signal_number;
}

}  // namespace dramatiq
