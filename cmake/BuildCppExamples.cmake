# Installs the library built in BUILD_DIR under BUILD_DIR/cpp-install, then
# configures and builds examples/cpp (SOURCE_DIR/examples/cpp) as a separate
# project against that install, in BUILD_DIR/cpp-examples: the examples use
# nothing but what `cmake --install` puts in place. The cross-language
# Python tests run the programs it builds.
#   cmake -DBUILD_DIR=build-tests -DSOURCE_DIR=. -P cmake/BuildCppExamples.cmake
foreach(required BUILD_DIR SOURCE_DIR)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "${required} is not set")
  endif()
endforeach()
get_filename_component(BUILD_DIR "${BUILD_DIR}" ABSOLUTE)
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
set(prefix "${BUILD_DIR}/cpp-install")
if(NOT DEFINED PROJECT_DIR)
  set(PROJECT_DIR "${SOURCE_DIR}/examples/cpp")
endif()
if(NOT DEFINED OUT_DIR)
  set(OUT_DIR "${BUILD_DIR}/cpp-examples")
endif()
set(examples "${OUT_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "failed (${status}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE "${prefix}")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
run(${CMAKE_COMMAND} -S "${PROJECT_DIR}" -B "${examples}" -G Ninja
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${examples}" -j 2)
