// Starts or stops a test PostgreSQL that outlives this process, for a whole ctest run:
// `pg_test_server start NAME`, `pg_test_server stop NAME`.
#include <cstdio>
#include <exception>
#include <string>

#include "pg_server.hpp"

int main(int argc, char** argv) {
  using postroom::pgstore::test::PgServer;
  if (argc != 3) {
    std::fprintf(stderr, "usage: pg_test_server start|stop NAME\n");
    return 2;
  }
  std::string action = argv[1], name = argv[2];
  try {
    if (action == "start") {
      PgServer::remove(name);  // one left by an interrupted run
      PgServer server;
      server.keep(name);
      return 0;
    }
    if (action == "stop") {
      PgServer::remove(name);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_test_server: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "pg_test_server: unknown action %s\n", action.c_str());
  return 2;
}
