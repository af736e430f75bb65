// Starting and stopping the tests' PostgreSQL with initdb and pg_ctl.
#include "pg_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace postroom::pgstore::test {

namespace {

std::string bindir() {
  if (const char* dir = std::getenv("POSTROOM_PG_BINDIR")) return dir;
  return POSTROOM_PG_BINDIR;
}

// A port nothing listens on now (the kernel's pick for an ephemeral bind).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

PgServer::PgServer() {
  char pattern[] = "/tmp/postroom-pg-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  // The data directory must belong to the user the server runs as.
  if (::geteuid() == 0 && std::system(("chown nobody:nogroup " + dir_).c_str()) != 0)
    throw std::runtime_error("chown of the PostgreSQL directory failed");
  port_ = free_port();
  if (run(bindir() + "/initdb -D data -U postroom --auth=trust -E UTF8 --no-sync" +
          " >initdb.log 2>&1") != 0)
    throw std::runtime_error("initdb failed, see " + dir_ + "/initdb.log");
  start();
}

PgServer::PgServer(Attached, std::string dir, int port)
    : dir_(std::move(dir)), port_(port), running_(true), owned_(false) {}

PgServer::~PgServer() {
  if (!owned_) return;
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int PgServer::run(const std::string& command) const {
  std::string as_user =
      ::geteuid() == 0 ? "setpriv --reuid=nobody --regid=nogroup --clear-groups " : "";
  std::string line = "cd " + dir_ + " && " + as_user + "sh -c '" + command + "'";
  return std::system(line.c_str());
}

void PgServer::start() {
  // fsync off: a test database need not survive a crash of the machine.
  std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                        dir_ + " -c fsync=off -c full_page_writes=off";
  if (run(bindir() + "/pg_ctl -D data -l server.log -w -o \"" + options + "\" start >/dev/null") !=
      0)
    throw std::runtime_error("pg_ctl start failed, see " + dir_ + "/server.log");
  running_ = true;
}

void PgServer::stop() {
  if (!running_) return;
  run(bindir() + "/pg_ctl -D data -m fast -w stop >/dev/null");
  running_ = false;
}

std::string PgServer::conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=postroom";
}

int PgServer::psql(const std::string& database, const std::string& arguments) const {
  std::string line = bindir() + "/psql -X -q -v ON_ERROR_STOP=1 \"" + conninfo(database) + "\" " +
                     arguments + " >/dev/null";
  return std::system(line.c_str());
}

namespace {
std::string state_file(const std::string& name) {
  return std::string(POSTROOM_PG_STATE_DIR) + "/pg-" + name + ".state";
}
}  // namespace

std::unique_ptr<PgServer> PgServer::attach(const std::string& name) {
  std::ifstream in(state_file(name));
  std::string dir;
  int port = 0;
  if (!(in >> dir >> port)) return nullptr;
  auto server = std::unique_ptr<PgServer>(new PgServer(Attached{}, dir, port));
  // A state file left by an interrupted run names a server that is gone.
  if (server->run(bindir() + "/pg_ctl -D data status >/dev/null") != 0) return nullptr;
  return server;
}

void PgServer::keep(const std::string& name) {
  std::ofstream(state_file(name)) << dir_ << ' ' << port_ << '\n';
  owned_ = false;
}

void PgServer::remove(const std::string& name) {
  if (auto server = attach(name)) {
    server->owned_ = true;  // its destructor stops it and removes the directory
  }
  std::error_code ignored;
  std::filesystem::remove(state_file(name), ignored);
}

PgServer& shared_server() {
  static std::unique_ptr<PgServer> server = [] {
    auto attached = PgServer::attach("shared");
    return attached ? std::move(attached) : std::make_unique<PgServer>();
  }();
  return *server;
}

std::unique_ptr<PgServer> restart_server() {
  auto attached = PgServer::attach("restart");
  return attached ? std::move(attached) : std::make_unique<PgServer>();
}

}  // namespace postroom::pgstore::test
