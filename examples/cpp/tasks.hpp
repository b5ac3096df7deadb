// The actors the examples share: their names, queues and signatures. The
// worker defines them (with bodies); the producer only sends to them, so
// any worker that defines actors of these names runs its messages: this
// C++ worker, or a Python one (tests/python/cpp/cpp_interop_app.py).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <dramatiq/dramatiq.hpp>

namespace tasks {

// add(a, b) -> a + b
using Add = int(int, int);
// word_count(text) -> {word: count}
using WordCount = std::map<std::string, int>(std::string);
// scale(values, factor = 2.0) -> each value times factor
using Scale = std::vector<double>(std::vector<double>, std::optional<double>);

inline const dramatiq::ActorOptions kOptions{.queue = "examples", .store_results = true};

}  // namespace tasks
