// A throwaway PostgreSQL for tests: initdb in a temporary directory, the server on a free
// loopback port with its socket in that directory, removed at the end. PostgreSQL refuses
// to run as root, so as root it runs as nobody (CI runs the tests as root).
#pragma once

#include <string>

namespace postroom::pgstore::test {

class PgServer {
 public:
  PgServer();  // initdb and start; throws std::runtime_error when either fails
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;
  ~PgServer();  // stops the server and removes its directory

  void stop();   // pg_ctl stop -m fast: sessions are cut off
  void start();  // pg_ctl start, waiting until it accepts connections
  std::string conninfo() const;
  int port() const { return port_; }

 private:
  int run(const std::string& command) const;  // as the server's user, in its directory

  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

// The one server a test binary shares (started on first use): initdb costs a second.
PgServer& shared_server();

}  // namespace postroom::pgstore::test
