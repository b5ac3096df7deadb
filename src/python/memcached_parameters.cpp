// Memcached connection options from what the Python layer parsed out of
// pylibmc-style arguments (python/dramatiq/_memcached.py); shared by the
// rate-limit and result backends.
#include "dramatiq/memcached_options.hpp"
#include "py_common.hpp"

namespace dramatiq::python {

MemcachedOptions memcached_options(std::vector<std::string> servers, bool binary, std::size_t pool_size,
                                   std::map<std::string, long long> behaviors,
                                   std::optional<std::string> username, std::optional<std::string> password) {
  MemcachedOptions options;
  options.servers = std::move(servers);
  options.binary = binary;
  options.pool_size = pool_size;
  options.behaviors = std::move(behaviors);
  options.username = std::move(username);
  options.password = std::move(password);
  return options;
}

}  // namespace dramatiq::python
