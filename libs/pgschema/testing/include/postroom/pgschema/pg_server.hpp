// A throwaway PostgreSQL server for tests: initdb in a temporary directory, listening on
// 127.0.0.1 on a free port (and a unix socket in that directory), fsync off. PostgreSQL
// refuses to run as root, so as root it runs as `nobody` (CI runs the tests as root).
#pragma once

#include <filesystem>
#include <string>

#include "postroom/base/error.hpp"

namespace postroom::pgschema {

class PgServer {
 public:
  // Starts the server; the error carries the tail of its log.
  static Result<PgServer> start();

  PgServer(PgServer&& other) noexcept;
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;
  ~PgServer();  // stops the server and removes its directory

  int port() const { return port_; }
  // A libpq connection string for `dbname` as the superuser `postroom` (trust auth).
  std::string conninfo(const std::string& dbname = "postgres") const;
  // A new empty database; each test case takes its own.
  Result<std::string> create_database(const std::string& name) const;

 private:
  PgServer() = default;
  std::filesystem::path dir_;
  std::string bindir_;
  std::string run_as_;  // prefix that drops root, or ""
  int port_ = 0;
  bool running_ = false;
};

}  // namespace postroom::pgschema
