// Graceful shutdown for a C++ worker's main(): wait for SIGINT or SIGTERM,
// then stop the worker, letting in-flight messages finish (requeueing the
// prefetched ones), as the `dramatiq` command does for Python workers.
//
//   dramatiq::Worker worker(broker, {.worker_threads = 8});
//   worker.start();
//   dramatiq::wait_for_shutdown_signal();
//   worker.stop();
#pragma once

#include <chrono>
#include <functional>

#include "dramatiq/worker.hpp"

namespace dramatiq {

// Blocks until the process receives SIGINT or SIGTERM; returns which. The
// handlers are installed for the wait only (whichever thread the signal is
// delivered to) and the previous ones put back afterwards, so a second
// Ctrl-C during the stop that follows acts as it did before the wait
// (by default: ends the process). `on_waiting`, if given, is called once
// the handlers are in place (a signal raised from then on ends the wait).
int wait_for_shutdown_signal(const std::function<void()>& on_waiting = {});

// start(), wait_for_shutdown_signal(), stop(stop_timeout): the whole life
// of a worker process's main(). Returns the signal that ended it.
int run_until_shutdown_signal(Worker& worker,
                              std::chrono::milliseconds stop_timeout = Worker::kDefaultStopTimeout);

}  // namespace dramatiq
