// Helpers shared by the fuzz targets: reading fuzz input piece by piece, and
// failing loudly (abort, which libFuzzer reports as a crash with the input
// saved) when an invariant does not hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <unistd.h>

namespace dramatiq::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// A fresh directory under /tmp for an embedded-broker file, made once per
// fuzz process (`name` tells the targets' directories apart).
struct BrokerFiles {
  std::string dir;
  std::string path;
  explicit BrokerFiles(const std::string& name) {
    std::string pattern = "/tmp/dramatiq-fuzz-" + name + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) invariant_failed("mkdtemp failed");
    dir = pattern;
    path = dir + "/broker.sqlite3";
  }
};

#define FUZZ_CHECK(condition, detail) \
  ((condition) ? static_cast<void>(0) : ::dramatiq::fuzz::invariant_failed(#condition, detail))

// Takes bytes off the front of the input; running out yields zeros, so every
// input is a complete program for the structured targets.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::size_t left() const { return empty() ? 0 : size_ - pos_; }

  std::uint8_t byte() { return empty() ? 0 : data_[pos_++]; }

  template <class T>
  T number() {
    T value{};
    std::size_t n = std::min(sizeof value, left());
    if (n > 0) std::memcpy(&value, data_ + pos_, n);
    pos_ += n;
    return value;
  }

  // Up to `max` bytes, length chosen by the input.
  std::string bytes(std::size_t max) {
    std::size_t n = std::min<std::size_t>(byte() % (max + 1), left());
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

  std::string_view rest() {
    std::string_view out;
    if (!empty()) out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace dramatiq::fuzz
