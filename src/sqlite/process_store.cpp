#include "sqlite/process_store.hpp"

#include <unistd.h>

#include <filesystem>

#include "dramatiq/errors.hpp"

namespace dramatiq::sqlite {

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void create_parent_directory(const std::string& path) {
  std::filesystem::path directory = std::filesystem::absolute(path).parent_path();
  std::error_code error;
  if (std::filesystem::exists(directory, error)) return;
  std::filesystem::create_directories(directory, error);
  if (error) {
    throw ConnectionFailed("Cannot create the directory of the SQLite database " + path + ": " +
                           error.message());
  }
}

ProcessStore::ProcessStore(DatabaseOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) throw ConnectionFailed("An SQLite backend needs a file path");
  create_parent_directory(options_.path);
  get();
}

ProcessStore::~ProcessStore() {
  // Inherited across fork(): closing it here would release the parent's locks.
  if (store_ && opened_pid_ != ::getpid()) (void)store_.release();
}

namespace {
// The log's size is looked at once per this many writes (a stat() call).
constexpr std::uint32_t kCheckpointEvery = 256;
constexpr std::int64_t kWalLimitBytes = 64LL << 20;
}  // namespace

void ProcessStore::write(const std::function<void(Database&)>& work) {
  Store& store = get();
  store.write(work);
  if (writes_.fetch_add(1, std::memory_order_relaxed) % kCheckpointEvery == kCheckpointEvery - 1) {
    store.checkpoint_if_larger_than(kWalLimitBytes);
  }
}

Store& ProcessStore::get() {
  std::lock_guard lock(mutex_);
  long pid = ::getpid();
  if (!store_ || opened_pid_ != pid) {
    if (store_) (void)store_.release();  // the parent's: see the destructor
    store_ = std::make_unique<Store>(options_);
    opened_pid_ = pid;
  }
  return *store_;
}

}  // namespace dramatiq::sqlite
