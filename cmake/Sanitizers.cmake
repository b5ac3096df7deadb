# Sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh).
#
#   -DDRAMATIQ_SANITIZE=address,undefined   every target in the tree is built
#                                           with these sanitizers (any list
#                                           -fsanitize= takes, e.g. thread)
#   -DDRAMATIQ_FUZZ=ON                      also instruments for libFuzzer's
#                                           coverage (clang only) and builds
#                                           the fuzz targets in tests/fuzz/
#
# Included by CMakeLists.txt before any target is defined, so the flags reach
# the engine, the tests and the fuzz targets alike. A sanitizer report ends
# the process with a failure (no "recover"), so ctest sees it as a failed test.
set(DRAMATIQ_SANITIZE "" CACHE STRING
    "Build with these -fsanitize= sanitizers (e.g. address,undefined or thread)")
option(DRAMATIQ_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)

if(DRAMATIQ_SANITIZE)
  # -O1: a quarter of -O0's run time for little more build time; line
  # tables are all a report's stack trace needs (a quarter less build time
  # than -g).
  add_compile_options(-fsanitize=${DRAMATIQ_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -O1)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-gline-tables-only)
  else()
    add_compile_options(-g1)
  endif()
  add_link_options(-fsanitize=${DRAMATIQ_SANITIZE})
endif()

if(DRAMATIQ_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DRAMATIQ_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Coverage counters everywhere; only the fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Called at the end of CMakeLists.txt, once the engine and its tests exist.
function(dramatiq_sanitizer_targets)
  if(DRAMATIQ_BUILD_TESTS)
    # The ThreadSanitizer run covers the threaded parts: the worker, the
    # brokers and their settlement (a TSan build of the whole suite costs
    # twice the build time for tests of single-threaded code).
    add_executable(threaded_engine_tests EXCLUDE_FROM_ALL
      tests/cpp/test_worker.cpp tests/cpp/test_work_queue.cpp tests/cpp/test_broker_traits.cpp
      tests/cpp/test_redis_broker.cpp tests/cpp/test_sqlite_broker.cpp
      tests/cpp/test_middleware_pipeline.cpp tests/cpp/test_results.cpp tests/cpp/test_scheduler.cpp)
    target_include_directories(threaded_engine_tests PRIVATE src)
    target_link_libraries(threaded_engine_tests PRIVATE dramatiq_engine GTest::gtest GTest::gtest_main)
  endif()
  if(DRAMATIQ_FUZZ)
    add_subdirectory(tests/fuzz)
  endif()
endfunction()
