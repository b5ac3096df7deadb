#include "memcached/client.hpp"

#include <libmemcached/memcached.h>

#include <algorithm>
#include <charconv>
#include <unistd.h>
#include <climits>
#include <cstdlib>
#include <stdexcept>

#include "dramatiq/errors.hpp"

namespace dramatiq {

std::string MemcachedOptions::describe() const {
  std::string text;
  for (const auto& server : servers) {
    if (!text.empty()) text += ", ";
    text += server;
  }
  return text.empty() ? "(no servers)" : text;
}

namespace memcached {

namespace {

constexpr std::time_t kThirtyDays = 60 * 60 * 24 * 30;

struct ServerAddress {
  std::string host;  // or the socket path
  in_port_t port = 11211;
  bool unix_socket = false;
};

in_port_t parse_port(std::string_view text, const std::string& server) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("Invalid port in memcached server '" + server + "'");
  }
  return static_cast<in_port_t>(value);
}

// The server spellings pylibmc accepts (less UDP).
ServerAddress parse_server(const std::string& server) {
  std::string_view text = server;
  ServerAddress address;
  if (text.rfind("udp:", 0) == 0) {
    throw std::invalid_argument("UDP memcached servers are not supported: '" + server + "'");
  }
  if (text.rfind("tcp:", 0) == 0) text.remove_prefix(4);
  if (text.rfind("unix:", 0) == 0) text.remove_prefix(5);
  if (text.empty()) throw std::invalid_argument("Empty memcached server address");
  if (text.front() == '/') {
    address.host = text;
    address.unix_socket = true;
    return address;
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("Invalid memcached server '" + server + "'");
    }
    address.host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("Invalid memcached server '" + server + "'");
      address.port = parse_port(rest.substr(1), server);
    }
    return address;
  }
  auto colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    address.host = text.substr(0, colon);
    address.port = parse_port(text.substr(colon + 1), server);
  } else if (colon != std::string_view::npos) {
    address.host = text;  // a bare IPv6 address
  } else {
    address.host = text;
  }
  return address;
}

memcached_behavior_t behavior_by_name(const std::string& name) {
  static const std::map<std::string, memcached_behavior_t> names{
      {"tcp_nodelay", MEMCACHED_BEHAVIOR_TCP_NODELAY},
      {"tcp_keepalive", MEMCACHED_BEHAVIOR_TCP_KEEPALIVE},
      {"no_block", MEMCACHED_BEHAVIOR_NO_BLOCK},
      {"connect_timeout", MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT},
      {"receive_timeout", MEMCACHED_BEHAVIOR_RCV_TIMEOUT},
      {"send_timeout", MEMCACHED_BEHAVIOR_SND_TIMEOUT},
      {"retry_timeout", MEMCACHED_BEHAVIOR_RETRY_TIMEOUT},
      {"dead_timeout", MEMCACHED_BEHAVIOR_DEAD_TIMEOUT},
      {"remove_failed", MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS},
      {"failure_limit", MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT},
      {"ketama", MEMCACHED_BEHAVIOR_KETAMA},
      {"ketama_weighted", MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED},
      {"cas", MEMCACHED_BEHAVIOR_SUPPORT_CAS},
      {"verify_keys", MEMCACHED_BEHAVIOR_VERIFY_KEY},
  };
  auto it = names.find(name);
  if (it == names.end()) throw std::invalid_argument("Unsupported memcached behavior '" + name + "'");
  return it->second;
}

bool is_connection_error(memcached_return_t rc) {
  switch (rc) {
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_BIND_FAILURE:
    case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_ERRNO:
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_PARTIAL_READ:
    case MEMCACHED_SOME_ERRORS:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::time_t expiry_from_ttl(std::int64_t ttl_ms) {
  std::time_t seconds = static_cast<std::time_t>(ttl_ms / 1000);
  if (seconds < 1) seconds = 1;
  if (seconds > kThirtyDays) {
    // An absolute time; the text protocol reads it as a signed 32-bit
    // number, and a negative one expires the item at once.
    seconds = std::min<std::time_t>(seconds + std::time(nullptr), INT32_MAX);
  }
  return seconds;
}

Client::Client(MemcachedOptions options) : options_(std::move(options)), pid_(getpid()) {
  if (options_.servers.empty()) throw std::invalid_argument("memcached needs at least one server");
  if (options_.pool_size == 0) throw std::invalid_argument("memcached pool_size must be positive");
  for (const auto& server : options_.servers) parse_server(server);
  for (const auto& [name, value] : options_.behaviors) behavior_by_name(name);
  // Build one handle now: bad behavior values surface at construction.
  give_back(make_handle());
  created_ = 1;
}

Client::~Client() {
  if (pid_ != getpid()) return;  // inherited across fork(): the parent's
  for (memcached_st* handle : idle_) memcached_free(handle);
}

memcached_st* Client::make_handle() const {
  memcached_st* handle = memcached_create(nullptr);
  if (!handle) throw std::bad_alloc();
  auto fail = [&](const std::string& what) {
    memcached_free(handle);
    throw std::invalid_argument(what);
  };
  if (options_.binary) memcached_behavior_set(handle, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  else memcached_behavior_set(handle, MEMCACHED_BEHAVIOR_VERIFY_KEY, 1);
  // CAS ids are always wanted (incr_and_sum and results rely on them).
  memcached_behavior_set(handle, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  memcached_behavior_set(handle, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  for (const auto& [name, value] : options_.behaviors) {
    memcached_return_t rc =
        memcached_behavior_set(handle, behavior_by_name(name), static_cast<std::uint64_t>(value));
    if (rc != MEMCACHED_SUCCESS) {
      fail("Invalid value for memcached behavior '" + name + "': " + memcached_strerror(handle, rc));
    }
  }
  for (const auto& server : options_.servers) {
    ServerAddress address = parse_server(server);
    memcached_return_t rc = address.unix_socket
                                ? memcached_server_add_unix_socket(handle, address.host.c_str())
                                : memcached_server_add(handle, address.host.c_str(), address.port);
    if (rc != MEMCACHED_SUCCESS) {
      fail("Invalid memcached server '" + server + "': " + memcached_strerror(handle, rc));
    }
  }
  if (options_.username) {
    memcached_return_t rc = memcached_set_sasl_auth_data(handle, options_.username->c_str(),
                                                         options_.password.value_or("").c_str());
    if (rc != MEMCACHED_SUCCESS) {
      fail(std::string("memcached SASL setup failed: ") + memcached_strerror(handle, rc));
    }
  }
  return handle;
}

Client::Lease Client::borrow() {
  std::unique_lock lock(mutex_);
  if (pid_ != getpid()) {
    // Forked: the idle handles are the parent's (deliberately not freed).
    idle_.clear();
    created_ = 0;
    pid_ = getpid();
  }
  while (idle_.empty() && created_ >= options_.pool_size) returned_.wait(lock);
  if (!idle_.empty()) {
    memcached_st* handle = idle_.back();
    idle_.pop_back();
    return Lease(*this, handle);
  }
  ++created_;
  lock.unlock();
  try {
    return Lease(*this, make_handle());
  } catch (...) {
    std::lock_guard relock(mutex_);
    --created_;
    returned_.notify_one();
    throw;
  }
}

void Client::give_back(memcached_st* handle) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(handle);
  }
  returned_.notify_one();
}

namespace {

[[noreturn]] void raise(memcached_st* handle, memcached_return_t rc, const std::string& operation,
                        const std::string& key, const MemcachedOptions& options) {
  // The code's own text, plus the server's words when it said more (the
  // handle's "last error" may be stale: SUCCESS after a reply-level error).
  std::string detail = memcached_strerror(handle, rc);
  const char* said = memcached_last_error_message(handle);
  if (said && memcached_last_error(handle) != MEMCACHED_SUCCESS && detail != said) {
    detail += std::string(" (") + said + ")";
  }
  if (is_connection_error(rc)) {
    throw ConnectionFailed("memcached " + operation + " failed (servers: " + options.describe() +
                           "): " + detail);
  }
  if (rc == MEMCACHED_BAD_KEY_PROVIDED || rc == MEMCACHED_KEY_TOO_BIG) {
    throw std::invalid_argument("Invalid memcached key '" + key + "': " + detail);
  }
  throw DramatiqError("memcached " + operation + " of '" + key + "' failed: " + detail);
}

}  // namespace

std::map<std::string, Item> Client::fetch(const std::vector<std::string>& keys) {
  std::map<std::string, Item> items;
  if (keys.empty()) return items;
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& key : keys) {
    pointers.push_back(key.data());
    lengths.push_back(key.size());
  }
  Lease lease = borrow();
  memcached_st* handle = lease.get();
  memcached_return_t rc = memcached_mget(handle, pointers.data(), lengths.data(), keys.size());
  if (rc != MEMCACHED_SUCCESS) raise(handle, rc, "get", keys.front(), options_);
  memcached_result_st* result;
  while ((result = memcached_fetch_result(handle, nullptr, &rc)) != nullptr) {
    Item item;
    item.value.assign(memcached_result_value(result), memcached_result_length(result));
    item.flags = memcached_result_flags(result);
    item.cas = memcached_result_cas(result);
    items[std::string(memcached_result_key_value(result), memcached_result_key_length(result))] =
        std::move(item);
    memcached_result_free(result);
  }
  if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
    raise(handle, rc, "get", keys.front(), options_);
  }
  return items;
}

std::optional<Item> Client::get(const std::string& key) { return gets(key); }

std::optional<Item> Client::gets(const std::string& key) {
  auto items = fetch({key});
  auto it = items.find(key);
  if (it == items.end()) return std::nullopt;
  return std::move(it->second);
}

std::map<std::string, Item> Client::get_multi(const std::vector<std::string>& keys) { return fetch(keys); }

void Client::set(const std::string& key, const std::string& value, std::uint32_t flags, std::time_t expiry) {
  Lease lease = borrow();
  memcached_return_t rc =
      memcached_set(lease.get(), key.data(), key.size(), value.data(), value.size(), expiry, flags);
  if (rc != MEMCACHED_SUCCESS) raise(lease.get(), rc, "set", key, options_);
}

bool Client::add(const std::string& key, const std::string& value, std::uint32_t flags, std::time_t expiry) {
  Lease lease = borrow();
  memcached_return_t rc =
      memcached_add(lease.get(), key.data(), key.size(), value.data(), value.size(), expiry, flags);
  if (rc == MEMCACHED_SUCCESS) return true;
  if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS) return false;
  raise(lease.get(), rc, "add", key, options_);
}

CasResult Client::cas(const std::string& key, const std::string& value, std::uint32_t flags,
                      std::time_t expiry, std::uint64_t cas_id) {
  Lease lease = borrow();
  memcached_return_t rc = memcached_cas(lease.get(), key.data(), key.size(), value.data(), value.size(),
                                        expiry, flags, cas_id);
  if (rc == MEMCACHED_SUCCESS) return CasResult::Stored;
  if (rc == MEMCACHED_DATA_EXISTS) return CasResult::Exists;
  if (rc == MEMCACHED_NOTFOUND) return CasResult::NotFound;
  raise(lease.get(), rc, "cas", key, options_);
}

namespace {

// libmemcached takes 32-bit deltas; larger amounts go in steps.
template <typename Step>
std::optional<std::uint64_t> in_steps(std::uint64_t amount, Step step) {
  std::uint64_t value = 0;
  do {
    auto chunk = static_cast<std::uint32_t>(std::min<std::uint64_t>(amount, UINT32_MAX));
    auto next = step(chunk);
    if (!next) return std::nullopt;
    value = *next;
    amount -= chunk;
  } while (amount > 0);
  return value;
}

}  // namespace

std::optional<std::uint64_t> Client::incr(const std::string& key, std::uint64_t amount) {
  Lease lease = borrow();
  return in_steps(amount, [&](std::uint32_t chunk) -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    memcached_return_t rc = memcached_increment(lease.get(), key.data(), key.size(), chunk, &value);
    if (rc == MEMCACHED_SUCCESS) return value;
    if (rc == MEMCACHED_NOTFOUND) return std::nullopt;
    raise(lease.get(), rc, "incr", key, options_);
  });
}

std::optional<std::uint64_t> Client::decr(const std::string& key, std::uint64_t amount) {
  Lease lease = borrow();
  return in_steps(amount, [&](std::uint32_t chunk) -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    memcached_return_t rc = memcached_decrement(lease.get(), key.data(), key.size(), chunk, &value);
    if (rc == MEMCACHED_SUCCESS) return value;
    if (rc == MEMCACHED_NOTFOUND) return std::nullopt;
    raise(lease.get(), rc, "decr", key, options_);
  });
}

bool Client::remove(const std::string& key) {
  Lease lease = borrow();
  memcached_return_t rc = memcached_delete(lease.get(), key.data(), key.size(), 0);
  if (rc == MEMCACHED_SUCCESS) return true;
  if (rc == MEMCACHED_NOTFOUND) return false;
  raise(lease.get(), rc, "delete", key, options_);
}

void Client::flush_all() {
  Lease lease = borrow();
  memcached_return_t rc = memcached_flush(lease.get(), 0);
  if (rc != MEMCACHED_SUCCESS) raise(lease.get(), rc, "flush_all", "", options_);
}

}  // namespace memcached
}  // namespace dramatiq
