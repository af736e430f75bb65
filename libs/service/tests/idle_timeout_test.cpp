// Idle timeouts of the real server on loopback, with the timeouts cut to 1 s (the config
// file refuses less than RFC 5321's 5 minutes and RFC 1939's 10, so only code can ask).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "loopback.hpp"

using namespace postroom;
using namespace postroom::testing;
using namespace std::chrono_literals;

TEST_CASE("idle timeout: POP3 autologout closes without UPDATE, so DELE is undone (S10)") {
  Office office;
  {
    RunningServer server(office.config);
    Client pop3(server.port("pop3"));
    REQUIRE(pop3.read_until("+OK", 5s));
    REQUIRE(pop3.command("USER alice@example.test", "+OK"));
    REQUIRE(pop3.command(std::string("PASS ") + kPassword, "maildrop", 10s));
    REQUIRE(pop3.command("DELE 1", "deleted"));
    auto before = pop3.received().size();
    // Silent past the 1 s timeout: the server closes, saying nothing more (RFC 1939 §3).
    CHECK(pop3.closed_within(5s));
    CHECK(pop3.received().size() == before);
  }
  CHECK(office.messages_of_alice() == 1);
}

TEST_CASE("idle timeout: SMTP answers 421 4.4.2 and closes a silent client") {
  Office office;
  RunningServer server(office.config);
  Client smtp(server.port("smtp"));
  REQUIRE(smtp.read_until("220 ", 5s));
  REQUIRE(smtp.command("EHLO client.example.test", "250 "));
  CHECK(smtp.read_until("421 4.4.2", 5s));
  CHECK(smtp.closed_within(5s));
}

TEST_CASE("idle timeout: a client that keeps talking is not cut off") {
  Office office;
  RunningServer server(office.config);
  Client smtp(server.port("smtp"));
  Client pop3(server.port("pop3"));
  REQUIRE(smtp.read_until("220 ", 5s));
  REQUIRE(pop3.read_until("+OK", 5s));
  // 2.5 s in all, more than twice the timeout, with a command every 0.4 s.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(400ms);
    smtp.send("NOOP");
    pop3.send("NOOP");
  }
  std::this_thread::sleep_for(100ms);
  CHECK(smtp.command("QUIT", "221 "));
  CHECK(pop3.command("QUIT", "+OK postroom signing off"));
  CHECK(smtp.received().find("421") == std::string::npos);
}
