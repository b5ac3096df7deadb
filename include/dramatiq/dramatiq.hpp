// The C++ API in one include: brokers by URL, typed actors, messages and
// their results, composition, middleware and the worker. See docs/cpp.md.
#pragma once

#include "dramatiq/config.hpp"

#include "dramatiq/broker.hpp"
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/composition.hpp"
#include "dramatiq/connect.hpp"
#include "dramatiq/convert.hpp"
#include "dramatiq/default_middleware.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/failure.hpp"
#include "dramatiq/interrupt.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/message.hpp"
#include "dramatiq/middleware.hpp"
#include "dramatiq/results.hpp"
#include "dramatiq/result_backend.hpp"
#include "dramatiq/shutdown_signal.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/stub_result_backend.hpp"
#include "dramatiq/this_message.hpp"
#include "dramatiq/typed_actor.hpp"
#include "dramatiq/value.hpp"
#include "dramatiq/worker.hpp"

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
#if DRAMATIQ_WITH_MEMCACHED
#include "dramatiq/memcached_result_backend.hpp"
#endif
