# The optional backends: each one with dependencies of its own can be left
# out of the engine (the C++ library) with DRAMATIQ_WITH_<NAME>=OFF. The
# Python extension binds every backend, so it needs them all.
option(DRAMATIQ_WITH_REDIS "Build the Redis broker and backends (hiredis)" ON)
option(DRAMATIQ_WITH_RABBITMQ "Build the RabbitMQ broker (rabbitmq-c)" ON)
option(DRAMATIQ_WITH_SQLITE "Build the embedded SQLite broker and backends" ON)
option(DRAMATIQ_WITH_MEMCACHED "Build the memcached backends (libmemcached)" ON)

if(DRAMATIQ_BUILD_PYTHON)
  foreach(backend REDIS RABBITMQ SQLITE MEMCACHED)
    if(NOT DRAMATIQ_WITH_${backend})
      message(FATAL_ERROR "DRAMATIQ_BUILD_PYTHON needs every backend (DRAMATIQ_WITH_${backend} is OFF)")
    endif()
  endforeach()
endif()

# The libraries the enabled backends link (PRIVATE to the engine).
set(DRAMATIQ_BACKEND_LIBRARIES "")
if(DRAMATIQ_WITH_SQLITE)
  find_package(SQLite3 REQUIRED)
  # CMake 4.3 renamed the imported target; older releases only have the old name.
  if(TARGET SQLite3::SQLite3)
    list(APPEND DRAMATIQ_BACKEND_LIBRARIES SQLite3::SQLite3)
  else()
    list(APPEND DRAMATIQ_BACKEND_LIBRARIES SQLite::SQLite3)
  endif()
endif()
find_package(PkgConfig REQUIRED)
if(DRAMATIQ_WITH_REDIS)
  pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
  list(APPEND DRAMATIQ_BACKEND_LIBRARIES PkgConfig::HIREDIS)
endif()
if(DRAMATIQ_WITH_MEMCACHED)
  pkg_check_modules(LIBMEMCACHED REQUIRED IMPORTED_TARGET libmemcached)
  list(APPEND DRAMATIQ_BACKEND_LIBRARIES PkgConfig::LIBMEMCACHED)
endif()
if(DRAMATIQ_WITH_RABBITMQ)
  # rabbitmq-c (Debian: librabbitmq-dev), with its OpenSSL support for amqps://.
  pkg_check_modules(LIBRABBITMQ REQUIRED IMPORTED_TARGET librabbitmq)
  list(APPEND DRAMATIQ_BACKEND_LIBRARIES PkgConfig::LIBRABBITMQ)
endif()

# Sources (and C++ test files) of the backends that are left out, by path.
set(DRAMATIQ_REDIS_PATHS "src/redis/" "src/results/redis_" "src/rate_limits/redis_"
    "tests/cpp/test_redis_" "tests/cpp/test_rate_limits" "tests/cpp/test_results")
set(DRAMATIQ_RABBITMQ_PATHS "src/rabbitmq/" "tests/cpp/test_rabbitmq_")
set(DRAMATIQ_SQLITE_PATHS "src/sqlite/" "src/results/sqlite_" "src/rate_limits/sqlite_"
    "tests/cpp/test_sqlite_")
set(DRAMATIQ_MEMCACHED_PATHS "src/memcached/" "src/results/memcached_" "src/rate_limits/memcached_")

function(dramatiq_filter_backend_sources variable)
  set(kept ${${variable}})
  foreach(backend REDIS RABBITMQ SQLITE MEMCACHED)
    if(NOT DRAMATIQ_WITH_${backend})
      foreach(prefix ${DRAMATIQ_${backend}_PATHS})
        list(FILTER kept EXCLUDE REGEX "${PROJECT_SOURCE_DIR}/${prefix}")
      endforeach()
    endif()
  endforeach()
  set(${variable} ${kept} PARENT_SCOPE)
endfunction()

# dramatiq/config.hpp: which backends are built in, for connect() and for
# programs that #if on them.
foreach(backend REDIS RABBITMQ SQLITE MEMCACHED)
  if(DRAMATIQ_WITH_${backend})
    set(DRAMATIQ_WITH_${backend}_01 1)
  else()
    set(DRAMATIQ_WITH_${backend}_01 0)
  endif()
endforeach()
set(DRAMATIQ_GENERATED_INCLUDE_DIR "${PROJECT_BINARY_DIR}/generated/include")
configure_file("${PROJECT_SOURCE_DIR}/cmake/config.hpp.in"
               "${DRAMATIQ_GENERATED_INCLUDE_DIR}/dramatiq/config.hpp" @ONLY)
