// A thread-safe memcached client on libmemcached: a pool of connection
// handles (libmemcached's own handles are single-threaded), each call
// borrowing one. Shared by the engine parts that store in memcached (rate
// limits, results). Failures to reach the servers throw ConnectionFailed;
// a malformed key throws std::invalid_argument; other server errors throw
// DramatiqError.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dramatiq/memcached_options.hpp"

struct memcached_st;

namespace dramatiq::memcached {

// A stored value, its client flags (pylibmc's type tag) and its CAS id.
struct Item {
  std::string value;
  std::uint32_t flags = 0;
  std::uint64_t cas = 0;
};

enum class CasResult { Stored, Exists, NotFound };

// pylibmc's flags for the Python types it stores (ints are tagged LONG on
// Python 3, and their text is the decimal number).
namespace flags {
constexpr std::uint32_t kBytes = 0;
constexpr std::uint32_t kPickle = 1;
constexpr std::uint32_t kBool = 2;
constexpr std::uint32_t kInteger = 4;
constexpr std::uint32_t kZlib = 8;
constexpr std::uint32_t kText = 16;
}  // namespace flags

// Memcached's expiry from a ttl in milliseconds: whole seconds, at least
// one (0 would mean "never"), and beyond 30 days an absolute time (as the
// server reads larger numbers).
std::time_t expiry_from_ttl(std::int64_t ttl_ms);

class Client {
 public:
  // Checks the options (servers, behaviors) but does not connect yet.
  explicit Client(MemcachedOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  std::optional<Item> get(const std::string& key);
  // get with the item's CAS id filled in.
  std::optional<Item> gets(const std::string& key);
  // Items for the keys that exist (CAS ids filled in).
  std::map<std::string, Item> get_multi(const std::vector<std::string>& keys);
  void set(const std::string& key, const std::string& value, std::uint32_t flags, std::time_t expiry);
  // False when the key already exists.
  bool add(const std::string& key, const std::string& value, std::uint32_t flags, std::time_t expiry);
  CasResult cas(const std::string& key, const std::string& value, std::uint32_t flags,
                std::time_t expiry, std::uint64_t cas_id);
  // The new value, or nullopt when the key does not exist. decr stops at 0
  // (the server's rule). The value must be decimal text.
  std::optional<std::uint64_t> incr(const std::string& key, std::uint64_t amount);
  std::optional<std::uint64_t> decr(const std::string& key, std::uint64_t amount);
  // False when the key did not exist.
  bool remove(const std::string& key);
  void flush_all();

  const MemcachedOptions& options() const { return options_; }

 private:
  // A handle borrowed from the pool for one call.
  class Lease {
   public:
    Lease(Client& client, memcached_st* handle) : client_(client), handle_(handle) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { client_.give_back(handle_); }
    memcached_st* get() const { return handle_; }

   private:
    Client& client_;
    memcached_st* handle_;
  };
  Lease borrow();
  void give_back(memcached_st* handle);
  memcached_st* make_handle() const;
  std::map<std::string, Item> fetch(const std::vector<std::string>& keys);

  MemcachedOptions options_;
  // The process the pooled handles belong to: after fork() a child leaves
  // the parent's handles alone (freeing them would send "quit" on the
  // parent's sockets) and opens its own.
  int pid_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<memcached_st*> idle_;
  std::size_t created_ = 0;
};

}  // namespace dramatiq::memcached
