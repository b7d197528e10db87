# Every dependency comes from a Debian 12 package (scripts/deps installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS unit_test_framework)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# The node's allocator (app/ links it): under load glibc's malloc and free took 17% of the actor
# threads' CPU, many blocks freed on another thread than the one that made them (bench/README.md,
# "Session 7").
pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)

# CAF 0.17.6 ships no CMake package and no pkg-config file (caf-0.17.md, "Build and link").
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" caf_version_line REGEX "#define CAF_VERSION [0-9]+")
if(NOT caf_version_line MATCHES "CAF_VERSION 1706")
  message(FATAL_ERROR "ordermesh needs CAF 0.17.6 (libcaf-dev), found: ${caf_version_line}")
endif()
add_library(caf017 INTERFACE)
target_include_directories(caf017 SYSTEM INTERFACE "${CAF_INCLUDE_DIR}")
target_link_libraries(caf017 INTERFACE "${CAF_IO_LIBRARY}" "${CAF_CORE_LIBRARY}" Threads::Threads)
