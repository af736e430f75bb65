# Finds every third-party library from Debian's packages (see shared build notes).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(yaml-cpp 0.7 REQUIRED)
find_package(Threads REQUIRED)
# Header-only; only `postroom status --json` uses it.
find_package(nlohmann_json 3.11 REQUIRED)
if(POSTROOM_TESTS)
  find_package(doctest REQUIRED)
  include(doctest)
endif()
# libpq from libpq-dev: the PostgreSQL store and `postroom migrate-store`.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
