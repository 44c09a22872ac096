# Every third-party library comes from a Debian 12 package (scripts/deps.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 EXACT REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
# RE2: linear-time regular expressions for rules matched against untrusted text (bounce replies).
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)

find_library(ROCKSDB_LIBRARY rocksdb REQUIRED)
find_path(ROCKSDB_INCLUDE_DIR rocksdb/db.h REQUIRED)
add_library(rocksdb_lib INTERFACE)
target_link_libraries(rocksdb_lib INTERFACE ${ROCKSDB_LIBRARY})
target_include_directories(rocksdb_lib SYSTEM INTERFACE ${ROCKSDB_INCLUDE_DIR})

# Boost.Asio/Beast/JSON are used header-only; Boost.JSON's sources are compiled once in src/core.
add_library(boost_headers INTERFACE)
target_include_directories(boost_headers SYSTEM INTERFACE ${Boost_INCLUDE_DIRS})
target_compile_definitions(boost_headers INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW BOOST_JSON_NO_LIB
  BOOST_ASIO_DISABLE_BOOST_COROUTINE)
