# The installable C++ library: `cmake --install` puts libdramatiq (shared,
# made from the engine archive the Python module and the tests link too,
# so nothing is compiled twice), the public headers, a CMake package
# (find_package(dramatiq-cpp CONFIG), target dramatiq::dramatiq) and a
# pkg-config file (dramatiq-cpp.pc) under the prefix. A Python build
# (pip install .) installs only the extension module into the wheel.
if(DRAMATIQ_BUILD_PYTHON)
  return()
endif()
# Sanitizer and fuzzing builds (cmake/Sanitizers.cmake) test the engine, not
# the package: a shared library linked with --no-undefined cannot resolve
# the sanitizer runtime, which only executables link.
if(DRAMATIQ_SANITIZE OR DRAMATIQ_FUZZ)
  return()
endif()
if(CMAKE_VERSION VERSION_LESS 3.24)
  message(WARNING "the installable C++ library needs CMake 3.24 ($<LINK_LIBRARY:WHOLE_ARCHIVE>); not configured")
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(dramatiq SHARED "${PROJECT_SOURCE_DIR}/cmake/empty.cpp")
add_library(dramatiq::dramatiq ALIAS dramatiq)
# Every object of the engine, not only those something in the library uses.
target_link_libraries(dramatiq PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,dramatiq_engine>"
                      PUBLIC Threads::Threads)
target_include_directories(dramatiq PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                           $<BUILD_INTERFACE:${DRAMATIQ_GENERATED_INCLUDE_DIR}>
                           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(dramatiq PUBLIC cxx_std_20)
# Every symbol resolved when the library is made, not when a program links
# it (a backend left out must not leave a dangling reference behind).
target_link_options(dramatiq PRIVATE "LINKER:--no-undefined")
set_target_properties(dramatiq PROPERTIES OUTPUT_NAME dramatiq VERSION ${PROJECT_VERSION}
                      SOVERSION ${PROJECT_VERSION_MAJOR}
                      EXPORT_NAME dramatiq)

install(TARGETS dramatiq EXPORT dramatiq-cppTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Headers of the backends left out are not installed.
set(DRAMATIQ_EXCLUDED_HEADERS "")
if(NOT DRAMATIQ_WITH_REDIS)
  list(APPEND DRAMATIQ_EXCLUDED_HEADERS PATTERN "redis_*.hpp" EXCLUDE)
endif()
if(NOT DRAMATIQ_WITH_RABBITMQ)
  list(APPEND DRAMATIQ_EXCLUDED_HEADERS PATTERN "rabbitmq_*.hpp" EXCLUDE)
endif()
if(NOT DRAMATIQ_WITH_SQLITE)
  list(APPEND DRAMATIQ_EXCLUDED_HEADERS PATTERN "sqlite_*.hpp" EXCLUDE)
endif()
if(NOT DRAMATIQ_WITH_MEMCACHED)
  list(APPEND DRAMATIQ_EXCLUDED_HEADERS PATTERN "memcached_*.hpp" EXCLUDE)
endif()
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/dramatiq" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" ${DRAMATIQ_EXCLUDED_HEADERS})
install(FILES "${DRAMATIQ_GENERATED_INCLUDE_DIR}/dramatiq/config.hpp"
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dramatiq)

set(DRAMATIQ_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dramatiq-cpp)
install(EXPORT dramatiq-cppTargets NAMESPACE dramatiq:: DESTINATION ${DRAMATIQ_CMAKE_PACKAGE_DIR})
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/dramatiq-cppConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/dramatiq-cppConfig.cmake"
                              INSTALL_DESTINATION ${DRAMATIQ_CMAKE_PACKAGE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dramatiq-cppConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/dramatiq-cppConfig.cmake"
              "${PROJECT_BINARY_DIR}/dramatiq-cppConfigVersion.cmake"
        DESTINATION ${DRAMATIQ_CMAKE_PACKAGE_DIR})

file(RELATIVE_PATH DRAMATIQ_PC_PREFIX_FROM_PCFILEDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" DRAMATIQ_PC_PREFIX_FROM_PCFILEDIR "${DRAMATIQ_PC_PREFIX_FROM_PCFILEDIR}")
configure_file("${PROJECT_SOURCE_DIR}/cmake/dramatiq-cpp.pc.in" "${PROJECT_BINARY_DIR}/dramatiq-cpp.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/dramatiq-cpp.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The examples, built as a C++ user builds them: a separate CMake project
# that finds the package installed under a temporary prefix.
if(DRAMATIQ_BUILD_TESTS)
  add_test(NAME CppExamplesAgainstInstall
           COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR}
                   -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -P ${PROJECT_SOURCE_DIR}/cmake/BuildCppExamples.cmake)
endif()
