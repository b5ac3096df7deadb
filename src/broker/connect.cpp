#include "dramatiq/connect.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/url.hpp"
#include "dramatiq/config.hpp"
#include "dramatiq/default_middleware.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/stub_result_backend.hpp"
#if DRAMATIQ_WITH_REDIS
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/redis_result_backend.hpp"
#endif
#if DRAMATIQ_WITH_SQLITE
#include "dramatiq/sqlite_broker.hpp"
#include "dramatiq/sqlite_result_backend.hpp"
#endif
#if DRAMATIQ_WITH_RABBITMQ
#include "dramatiq/rabbitmq_broker.hpp"
#endif

namespace dramatiq {

const std::vector<std::string>& broker_url_schemes() {
  static const std::vector<std::string> schemes{"sqlite", "redis", "rediss", "unix",
                                                "amqp",   "amqps", "stub"};
  return schemes;
}

std::string broker_url_scheme(std::string_view url) {
  std::string scheme = url_scheme(url);
  const auto& known = broker_url_schemes();
  if (std::find(known.begin(), known.end(), scheme) == known.end()) {
    std::string expected;
    for (const auto& s : known) expected += (expected.empty() ? "" : ", ") + s + "://";
    throw std::invalid_argument("Unsupported broker URL '" + redacted_url(url) + "': expected one of " +
                                expected);
  }
  return scheme;
}

namespace {
[[noreturn, maybe_unused]] void not_built(const std::string& scheme, const char* option) {
  throw std::invalid_argument("this dramatiq library was built without " + scheme + ":// support (" +
                              option + "=OFF)");
}

std::shared_ptr<Broker> broker_for(const std::string& scheme, [[maybe_unused]] std::string_view url) {
  if (scheme == "stub") return std::make_shared<StubBroker>();
  if (scheme == "sqlite") {
#if DRAMATIQ_WITH_SQLITE
    return std::make_shared<SQLiteBroker>(SQLiteBrokerOptions::from_url(std::string(url)));
#else
    not_built(scheme, "DRAMATIQ_WITH_SQLITE");
#endif
  }
  if (scheme == "amqp" || scheme == "amqps") {
#if DRAMATIQ_WITH_RABBITMQ
    RabbitmqBrokerOptions options;
    options.servers = {RabbitmqConnectionOptions::from_url(url)};
    return std::make_shared<RabbitmqBroker>(std::move(options));
#else
    not_built(scheme, "DRAMATIQ_WITH_RABBITMQ");
#endif
  }
#if DRAMATIQ_WITH_REDIS
  RedisBrokerOptions options;
  options.connection = RedisConnectionOptions::from_url(url);
  return std::make_shared<RedisBroker>(std::move(options));
#else
  not_built(scheme, "DRAMATIQ_WITH_REDIS");
#endif
}
}  // namespace

std::shared_ptr<Broker> connect(std::string_view url, ConnectOptions options) {
  auto broker = broker_for(broker_url_scheme(url), url);
  for (auto& middleware : options.middleware ? *options.middleware : default_middleware()) {
    broker->add_middleware(middleware);
  }
  return broker;
}

std::shared_ptr<ResultBackend> result_backend_from_url(std::string_view url, ResultBackendOptions options) {
  std::string scheme = broker_url_scheme(url);
  if (scheme == "stub") return std::make_shared<StubResultBackend>(std::move(options));
  if (scheme == "sqlite") {
#if DRAMATIQ_WITH_SQLITE
    return std::make_shared<SQLiteResultBackend>(SQLiteBackendOptions::from_url(std::string(url)),
                                                 std::move(options));
#else
    not_built(scheme, "DRAMATIQ_WITH_SQLITE");
#endif
  }
  if (scheme == "amqp" || scheme == "amqps") {
    throw std::invalid_argument("RabbitMQ keeps no results: use a redis:// or sqlite:/// result backend");
  }
#if DRAMATIQ_WITH_REDIS
  return std::make_shared<RedisResultBackend>(RedisConnectionOptions::from_url(url), std::move(options));
#else
  not_built(scheme, "DRAMATIQ_WITH_REDIS");
#endif
}

}  // namespace dramatiq
