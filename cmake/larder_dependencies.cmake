# Every dependency comes from a Debian 12 package (scripts/install-deps.sh installs them).
# Each is found the way its package exports it: a CMake config where one ships, pkg-config where
# only a .pc file does.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(mimalloc 2.0 REQUIRED)
# The remote tier's TLS (Boost.Asio's ssl over OpenSSL 3).
find_package(OpenSSL 3 REQUIRED)

find_package(PkgConfig REQUIRED)
pkg_check_modules(liburing REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(libxxhash REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(libzstd REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET hiredis)
