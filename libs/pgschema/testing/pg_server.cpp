#include "postroom/pgschema/pg_server.hpp"

#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "postroom/pgschema/connection.hpp"

namespace postroom::pgschema {

namespace {

// pg_config (libpq-dev) names the server's binaries; POSTROOM_PG_BINDIR overrides it.
std::string server_bindir() {
  if (const char* env = std::getenv("POSTROOM_PG_BINDIR")) return env;
  std::string out;
  if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r")) {
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out.empty() ? "/usr/lib/postgresql/15/bin" : out;
}

// A port nothing listens on now (the server binds it a moment later).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string log_tail(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

Result<PgServer> PgServer::start() {
  PgServer s;
  // As root the server runs as nobody, who must reach the directory: /tmp, not a TMPDIR
  // that may sit in root's home.
  std::filesystem::path parent =
      geteuid() == 0 ? std::filesystem::path("/tmp") : std::filesystem::temp_directory_path();
  std::string tmpl = (parent / "postroom-pg-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return fail("mkdtemp failed");
  s.dir_ = tmpl;
  s.bindir_ = server_bindir();
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("nobody");
    const group* gr = getgrnam("nogroup");
    if (!pw || !gr)
      return fail("running as root, and there is no nobody/nogroup to run PostgreSQL");
    if (chown(s.dir_.c_str(), pw->pw_uid, gr->gr_gid) != 0) return fail("chown failed");
    s.run_as_ = "setpriv --reuid=nobody --regid=nogroup --clear-groups ";
  }
  // The server writes `log` itself (as nobody when dropped); the commands' output goes to
  // files the calling user creates.
  const std::string dir = s.dir_.string(), log = (s.dir_ / "log").string();
  std::string initdb = s.run_as_ + s.bindir_ + "/initdb -D " + dir + "/data -U postroom" +
                       " --auth=trust -E UTF8 --no-locale -N >" + log + ".initdb 2>&1";
  if (std::system(initdb.c_str()) != 0)
    return fail("initdb failed: " + log_tail(s.dir_ / "log.initdb"));
  // A port chosen here may be taken before the server binds it: try a few.
  for (int attempt = 0; attempt < 5 && !s.running_; ++attempt) {
    s.port_ = free_port();
    std::string start = s.run_as_ + s.bindir_ + "/pg_ctl -D " + dir + "/data -l " + log +
                        " -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p " +
                        std::to_string(s.port_) + " -c unix_socket_directories=" + dir +
                        " -c fsync=off -c full_page_writes=off -c shared_buffers=16MB\" start >>" +
                        log + ".ctl 2>&1";
    s.running_ = std::system(start.c_str()) == 0;
  }
  if (!s.running_) return fail("PostgreSQL did not start: " + log_tail(s.dir_ / "log"));
  return s;
}

PgServer::PgServer(PgServer&& other) noexcept
    : dir_(std::move(other.dir_)),
      bindir_(std::move(other.bindir_)),
      run_as_(std::move(other.run_as_)),
      port_(other.port_),
      running_(other.running_) {
  other.running_ = false;
  other.dir_.clear();
}

PgServer::~PgServer() {
  if (running_) {
    std::string stop = run_as_ + bindir_ + "/pg_ctl -D " + dir_.string() +
                       "/data -m immediate -w stop >/dev/null 2>&1";
    (void)std::system(stop.c_str());
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PgServer::conninfo(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postroom dbname=" + dbname;
}

Result<std::string> PgServer::create_database(const std::string& name) const {
  auto conn = connect(conninfo());
  if (!conn) return std::unexpected(conn.error());
  // A name chosen by the test, not by anyone else: quoted as an identifier all the same.
  char* quoted = PQescapeIdentifier(conn->get(), name.c_str(), name.size());
  if (!quoted) return fail(last_error(conn->get()));
  std::string sql = std::string("CREATE DATABASE ") + quoted;
  PQfreemem(quoted);
  if (auto r = exec(conn->get(), sql); !r) return std::unexpected(r.error());
  return conninfo(name);
}

}  // namespace postroom::pgschema
