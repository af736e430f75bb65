// Phase deadlines of the real server on loopback: a client that trickles bytes cannot hold
// its connection past them (the config refuses deadlines this short, so only code can ask).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "loopback.hpp"

using namespace postroom;
using namespace postroom::testing;
using namespace std::chrono_literals;

namespace {

// Sends `text` one byte every 200 ms, well inside the 1 s idle timeout; stops early when
// the server closes. Returns how long it kept sending.
std::chrono::milliseconds trickle(Client& client, const std::string& text) {
  auto start = std::chrono::steady_clock::now();
  for (char c : text) {
    if (!client.send_raw(std::string(1, c))) break;
    std::this_thread::sleep_for(200ms);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

TEST_CASE("deadline: a POP3 client that never completes its login is cut at login_timeout") {
  Office office;
  office.config->limits.login_timeout = 1s;
  RunningServer server(office.config);
  Client pop3(server.port("pop3"));
  REQUIRE(pop3.read_until("+OK", 5s));
  // Busy, never idle, never logged in: NOOP lines are refused in AUTHORIZATION, so it sends
  // the USER command a byte at a time instead (15 bytes: 3 s).
  trickle(pop3, "USER alice@exam");
  CHECK(pop3.closed_within(5s));
  CHECK(pop3.received().find("-ERR [SYS/TEMP] Login timeout") != std::string::npos);
}

TEST_CASE("deadline: a POP3 client that logs in in time keeps its session") {
  Office office;
  office.config->limits.login_timeout = 1s;
  office.config->limits.pop3_idle_timeout = 3s;
  RunningServer server(office.config);
  Client pop3(server.port("pop3"));
  REQUIRE(pop3.read_until("+OK", 5s));
  REQUIRE(pop3.command("USER alice@example.test", "+OK"));
  REQUIRE(pop3.command(std::string("PASS ") + kPassword, "maildrop", 10s));
  std::this_thread::sleep_for(1500ms);  // past the login deadline, inside the idle timeout
  CHECK(pop3.command("STAT", "+OK 1 "));
}

TEST_CASE("deadline: submission must authenticate within login_timeout") {
  Office office;
  office.config->listen.submission = {{"127.0.0.1", 0, false}};
  office.config->limits.login_timeout = 1s;
  office.config->limits.smtp_idle_timeout = 3s;
  RunningServer server(office.config);
  Client smtp(server.port("submission"));
  REQUIRE(smtp.read_until("220 ", 5s));
  // Talkative but never logged in: EHLO and NOOP every 300 ms, inside the idle timeout.
  for (int i = 0; i < 8 && smtp.send_raw("NOOP\r\n"); ++i) std::this_thread::sleep_for(300ms);
  CHECK(smtp.read_until("421 4.4.2", 5s));
  CHECK(smtp.closed_within(5s));
}

TEST_CASE("deadline: an SMTP command line trickled a byte at a time is cut") {
  Office office;  // smtp_idle_timeout 1 s: a begun line must be complete within it
  RunningServer server(office.config);
  Client smtp(server.port("smtp"));
  REQUIRE(smtp.read_until("220 ", 5s));
  auto kept = trickle(smtp, "EHLO client.example.test and a long tail of words");
  CHECK(smtp.read_until("421 4.4.2", 5s));
  CHECK(smtp.closed_within(5s));
  CHECK(kept < 5s);  // the 50 bytes would have taken 10 s
}

TEST_CASE("deadline: whole command lines sent often are not cut") {
  Office office;
  RunningServer server(office.config);
  Client smtp(server.port("smtp"));
  REQUIRE(smtp.read_until("220 ", 5s));
  // 2.4 s in all, past the 1 s line deadline, with a whole command every 300 ms.
  for (int i = 0; i < 8; ++i) {
    smtp.send("NOOP");
    std::this_thread::sleep_for(300ms);
  }
  CHECK(smtp.command("QUIT", "221 "));
  CHECK(smtp.received().find("421") == std::string::npos);
}

TEST_CASE("deadline: a DATA trickled line by line is cut at its bound, relative to max size") {
  Office office;
  office.config->limits.max_message_size = 1024;  // bound: 1 s + 1024 B at 8 KiB/s
  RunningServer server(office.config);
  Client smtp(server.port("smtp"));
  REQUIRE(smtp.read_until("220 ", 5s));
  REQUIRE(smtp.command("EHLO client.example.test", "250 "));
  REQUIRE(smtp.command("MAIL FROM:<bob@other.test>", "250 "));
  REQUIRE(smtp.command("RCPT TO:<alice@example.test>", "250 ", 10s));
  REQUIRE(smtp.command("DATA", "354 "));
  // Whole lines, one every 300 ms: never idle for 1 s, and each line complete.
  for (int i = 0; i < 20 && smtp.send_raw("x\r\n"); ++i) std::this_thread::sleep_for(300ms);
  CHECK(smtp.read_until("421 4.4.2", 5s));
  CHECK(smtp.closed_within(5s));
  CHECK(office.messages_of_alice() == 1);  // the cut message was never stored
}
