// RFC 2449 EXPIRE and LOGIN-DELAY: CAPA says what the host enforces, before and after login;
// whole downloads are reported for the retention clock; a login too soon gets its code.
#include <doctest/doctest.h>

#include <algorithm>

#include "dialog.hpp"

using namespace postroom::pop3;
using namespace postroom::pop3::testing;

namespace {

// The lines of the first CAPA reply in `output`, without its status and terminator.
std::vector<std::string> capa_lines(std::string_view output) {
  auto start = output.find("+OK capability list follows\r\n");
  REQUIRE(start != std::string_view::npos);
  output.remove_prefix(start + 29);
  std::vector<std::string> lines;
  while (!output.starts_with(".\r\n")) {
    auto end = output.find("\r\n");
    REQUIRE(end != std::string_view::npos);
    lines.emplace_back(output.substr(0, end));
    output.remove_prefix(end + 2);
  }
  return lines;
}

bool has_line(const std::vector<std::string>& lines, std::string_view line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool has_prefix(const std::vector<std::string>& lines, std::string_view prefix) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.starts_with(prefix); });
}

}  // namespace

TEST_CASE("pop3: CAPA says EXPIRE NEVER and no LOGIN-DELAY when nothing is enforced") {
  Transcript t = converse("CAPA\r\n");
  auto lines = capa_lines(t.output);
  CHECK(has_line(lines, "EXPIRE NEVER"));
  CHECK_FALSE(has_prefix(lines, "LOGIN-DELAY"));
}

TEST_CASE("pop3: CAPA before login gives the server's values, USER where they vary") {
  FakeHost host = default_host();
  host.params.announced = {.expire_days = 30,
                           .expire_per_user = true,
                           .login_delay = 900,
                           .login_delay_per_user = false};
  auto lines = capa_lines(converse(host, "CAPA\r\n").output);
  CHECK(has_line(lines, "EXPIRE 30 USER"));
  CHECK(has_line(lines, "LOGIN-DELAY 900"));

  host.params.announced = {.expire_days = std::nullopt,
                           .expire_per_user = true,
                           .login_delay = 0,
                           .login_delay_per_user = true};
  lines = capa_lines(converse(host, "CAPA\r\n").output);
  CHECK(has_line(lines, "EXPIRE NEVER USER"));
  CHECK(has_line(lines, "LOGIN-DELAY 0 USER"));
}

TEST_CASE("pop3: CAPA after login gives the user's own values, without USER") {
  FakeHost host = default_host();
  host.params.announced = {
      .expire_days = 30, .expire_per_user = true, .login_delay = 0, .login_delay_per_user = true};
  host.user_policy = Announced{.expire_days = 0,
                               .expire_per_user = true,  // dropped: it is the user's value
                               .login_delay = 600,
                               .login_delay_per_user = true};
  Transcript t = converse(host, std::string("CAPA\r\n") + std::string(kLogin) + "CAPA\r\n");
  auto before = capa_lines(t.output);
  CHECK(has_line(before, "EXPIRE 30 USER"));
  auto after = capa_lines(t.output.substr(t.output.find(login_reply())));
  CHECK(has_line(after, "EXPIRE 0"));
  CHECK(has_line(after, "LOGIN-DELAY 600"));
  CHECK_FALSE(has_prefix(after, "EXPIRE 30"));

  // A user with no login delay: the line goes, since nothing is enforced for them.
  host.user_policy = Announced{};  // EXPIRE NEVER, no login delay
  t = converse(host, std::string(kLogin) + "CAPA\r\n");
  auto plain = capa_lines(t.output);
  CHECK(has_line(plain, "EXPIRE NEVER"));
  CHECK_FALSE(has_prefix(plain, "LOGIN-DELAY"));
}

TEST_CASE("pop3: a login too soon gets -ERR [LOGIN-DELAY] and the session goes on") {
  FakeHost host = default_host();
  host.forced_outcome = Session::LoginOutcome::login_delay;
  Transcript t = converse(host, std::string(kLogin) + std::string(kLogin) + std::string(kLogin) +
                                    std::string(kLogin) + "NOOP\r\n");
  CHECK(t.output.starts_with(
      "+OK send PASS\r\n-ERR [LOGIN-DELAY] Minimum time between logins has not passed yet\r\n"));
  // Not counted as failed logins (three of those close the session): still in AUTHORIZATION.
  CHECK_FALSE(t.closed);
  CHECK(t.output.ends_with("-ERR command not valid in this state\r\n"));
}

TEST_CASE("pop3: RETR and a TOP that reaches the end report the whole download") {
  Transcript t = converse(std::string(kLogin) + "RETR 2\r\nTOP 1 5\r\nTOP 3 0\r\nRETR 2\r\n");
  // TOP 3 0 stopped after the header: message 103 was not downloaded whole.
  CHECK(t.retrieved == std::vector<std::int64_t>{102, 101, 102});
}

TEST_CASE("pop3: a RETR that fails reports no download") {
  FakeHost host = default_host();
  host.maildrop[0].fail_after = 0;  // -ERR [SYS/TEMP], and the session goes on
  Transcript t = converse(host, std::string(kLogin) + "RETR 1\r\nRETR 2\r\n");
  CHECK(t.retrieved == std::vector<std::int64_t>{102});
}
