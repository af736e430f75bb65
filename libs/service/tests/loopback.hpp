// A real server on its own loop thread and a blocking loopback client, for tests that
// drive the daemon's timers with values the config file would refuse.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "../../store/tests/put_message.hpp"
#include "../../store/tests/temp_dir.hpp"
#include "postroom/auth/password.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/server.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::testing {

using namespace std::chrono_literals;

// A server on its own loop thread, stopped (as by SIGTERM) when the fixture goes.
class RunningServer {
 public:
  explicit RunningServer(std::shared_ptr<const config::Config> config) : server_(&loop_) {
    uv_loop_init(&loop_);
    REQUIRE(server_.bind(config));
    REQUIRE(server_.open_store());
    stop_ = std::make_unique<net::Async>(&loop_, [this] {
      server_.stop();
      stop_->close();
    });
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~RunningServer() {
    stop_->wake();
    thread_.join();
    stop_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks of handles freed since
    uv_loop_close(&loop_);
  }
  std::uint16_t port(const std::string& listener) const {
    for (const auto& [name, endpoint] : server_.bound())
      if (name == listener) return endpoint.port;
    return 0;
  }

 private:
  uv_loop_t loop_{};
  service::Server server_;
  std::unique_ptr<net::Async> stop_;
  std::thread thread_;
};

// A blocking loopback client with a bounded wait for each read.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd_); }

  void send(const std::string& line) {
    std::string bytes = line + "\r\n";
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Sends bytes as they are; false once the server has closed the connection.
  bool send_raw(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Sends `line`, then reads until `want` arrives.
  bool command(const std::string& line, const std::string& want,
               std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    send(line);
    return read_until(want, limit);
  }
  // Reads until `want` has arrived (true), the peer closes or `limit` passes (false).
  bool read_until(const std::string& want, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (received_.find(want) == std::string::npos) {
      if (!read_some(deadline)) return false;
    }
    return true;
  }
  // Waits for the peer to close; false if it is still open at `limit`.
  bool closed_within(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!eof_) {
      if (!read_some(deadline)) return eof_;
    }
    return true;
  }
  const std::string& received() const { return received_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    received_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string received_;
  bool eof_ = false;
};

constexpr const char* kPassword = "loopback test password";

struct Office {
  TempDir dir;
  std::shared_ptr<config::Config> config = std::make_shared<config::Config>();
  std::int64_t alice = 0;

  Office() {
    config->hostname = "mail.example.test";
    config->domains = {"example.test"};
    config->data_dir = dir.path / "data";
    config->listen.smtp = {{"127.0.0.1", 0, false}};
    config->listen.pop3 = {{"127.0.0.1", 0, false}};
    config->auth.plaintext_without_tls = config::PlaintextPolicy::always;
    config->limits.smtp_idle_timeout = 1s;
    config->limits.pop3_idle_timeout = 1s;
    // One message for alice, stored before the server starts.
    std::filesystem::create_directories(config->data_dir);
    auto db = store::Database::open(config->database_path());
    REQUIRE(db);
    alice = *store::add_account(*db, "alice@example.test", *auth::hash_password(kPassword));
    REQUIRE(store::put_message(*db, "Subject: hi\r\n\r\nhello\r\n", {alice}));
  }

  std::size_t messages_of_alice() {
    auto db = store::Database::open(config->database_path());
    REQUIRE(db);
    return store::list_mailbox(*db, alice)->size();
  }
};

}  // namespace postroom::testing
