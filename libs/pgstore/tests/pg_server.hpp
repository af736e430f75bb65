// A throwaway PostgreSQL for tests: initdb in a temporary directory, the server on a free
// loopback port with its socket in that directory, removed at the end. PostgreSQL refuses
// to run as root, so as root it runs as nobody (CI runs the tests as root).
#pragma once

#include <memory>
#include <string>

namespace postroom::pgstore::test {

class PgServer {
 public:
  PgServer();  // initdb and start; throws std::runtime_error when either fails
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;
  // Stops the server and removes its directory, unless it was kept or attached.
  ~PgServer();

  // The server pg_test_server started under `name` for this ctest run, if it runs.
  static std::unique_ptr<PgServer> attach(const std::string& name);
  // Leaves the server running for others to attach to (pg_test_server start).
  void keep(const std::string& name);
  // Stops a kept server and removes it (pg_test_server stop).
  static void remove(const std::string& name);

  void stop();   // pg_ctl stop -m fast: sessions are cut off
  void start();  // pg_ctl start, waiting until it accepts connections
  std::string conninfo(const std::string& database = "postgres") const;
  // psql on `database`, as root too (only the server refuses root).
  int psql(const std::string& database, const std::string& arguments) const;

 private:
  struct Attached {};
  PgServer(Attached, std::string dir, int port);
  int run(const std::string& command) const;  // as the server's user, in its directory

  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  bool owned_ = true;
};

// The server the tests share: the ctest run's, else one of this process's own.
PgServer& shared_server();
// A server the caller may stop and start: the ctest run's, else a new one.
std::unique_ptr<PgServer> restart_server();

}  // namespace postroom::pgstore::test
