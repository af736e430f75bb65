// Dialog tests for the AUTHORIZATION state: greeting, USER/PASS, APOP, AUTH PLAIN, CAPA, QUIT.
#include <doctest/doctest.h>

#include "dialog.hpp"

using namespace postroom::pop3;
using namespace postroom::pop3::testing;

namespace {

constexpr std::string_view kInvalid = "-ERR [AUTH] Invalid login\r\n";
constexpr std::string_view kPlainOk = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n";

std::string maildrop_line() {
  std::string reply = login_reply();
  return reply.substr(reply.find("\r\n") + 2);
}

bool mentions(const Transcript& t, std::string_view needle) {
  if (t.output.find(needle) != std::string::npos) return true;
  for (const std::string& event : t.events) {
    if (event.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("pop3: the greeting carries the hostname and the APOP timestamp") {
  Transcript t = converse("");
  CHECK(t.greeting ==
        "+OK mail.example.test POP3 server ready <1896.697170952@mail.example.test>\r\n");
}

TEST_CASE("pop3: USER and PASS log in and enter TRANSACTION") {
  Dialog dialog(default_host());
  dialog.feed(kLogin);
  CHECK(dialog.take_output() == login_reply());
  CHECK(dialog.session().state() == State::transaction);
  CHECK(dialog.session().authenticated());
  CHECK(dialog.session().user() == "alice@example.test");
  REQUIRE(dialog.transcript().requests.size() == 1);
  auto* login = std::get_if<Login>(&dialog.transcript().requests[0]);
  REQUIRE(login);
  CHECK(login->user == "alice@example.test");
  CHECK(login->password == "secret");
}

TEST_CASE("pop3: the whole login dialog is the same fed whole or byte by byte") {
  Transcript t = converse(std::string(kLogin) + "QUIT\r\n");
  CHECK(t.output == login_reply() + "+OK postroom signing off (0 messages deleted)\r\n");
}

TEST_CASE("pop3: PASS takes the rest of the line, spaces included") {
  FakeHost host = default_host();
  host.passwords["alice@example.test"] = " pass phrase  with spaces";
  Transcript t = converse(host, "USER alice@example.test\r\nPASS  pass phrase  with spaces\r\n");
  CHECK(t.output == login_reply());
}

TEST_CASE("pop3: USER then QUIT ends the session without UPDATE") {
  Transcript t = converse("USER alice@example.test\r\nQUIT\r\n");
  CHECK(t.output == "+OK send PASS\r\n+OK postroom signing off\r\n");
  CHECK(t.events == std::vector<std::string>{"close reason=client quit"});
  CHECK(t.closed);
}

TEST_CASE("pop3: QUIT in AUTHORIZATION closes without UPDATE") {
  Transcript t = converse("QUIT\r\nSTAT\r\n");
  CHECK(t.output == "+OK postroom signing off\r\n");
  CHECK(t.events == std::vector<std::string>{"close reason=client quit"});
}

TEST_CASE("pop3: PASS without USER is refused") {
  Transcript t = converse("PASS secret\r\n");
  CHECK(t.output == "-ERR no USER given\r\n");
  CHECK(t.events.empty());
}

TEST_CASE("pop3: a wrong password gets -ERR [AUTH] and the client may try again") {
  Transcript t = converse(
      "USER alice@example.test\r\nPASS wrong\r\nPASS secret\r\n"
      "USER alice@example.test\r\nPASS secret\r\n");
  CHECK(t.output ==
        "+OK send PASS\r\n" + std::string(kInvalid) + "-ERR no USER given\r\n" + login_reply());
}

TEST_CASE("pop3: unknown user and wrong password get the same reply") {
  Transcript unknown = converse("USER nobody@example.test\r\nPASS secret\r\n");
  Transcript wrong = converse("USER alice@example.test\r\nPASS wrong\r\n");
  CHECK(unknown.output == wrong.output);
  CHECK(unknown.output == "+OK send PASS\r\n" + std::string(kInvalid));
}

TEST_CASE("pop3: three failed logins close the session after the third reply") {
  std::string attempt = "USER alice@example.test\r\nPASS wrong\r\n";
  Transcript t = converse(attempt + attempt + attempt + "USER alice@example.test\r\n");
  std::string one = "+OK send PASS\r\n" + std::string(kInvalid);
  CHECK(t.output == one + one + one);
  CHECK(t.closed);
  CHECK(t.events.back() == "close reason=too many failed logins");
}

TEST_CASE("pop3: two failed logins still allow a good one") {
  std::string attempt = "USER alice@example.test\r\nPASS wrong\r\n";
  Transcript t = converse(attempt + attempt + std::string(kLogin));
  CHECK_FALSE(t.closed);
  CHECK(t.output.ends_with(maildrop_line()));
}

TEST_CASE("pop3: a locked maildrop answers [IN-USE] and is not a failed login") {
  FakeHost host = default_host();
  host.forced_outcome = Session::LoginOutcome::in_use;
  std::string input;
  for (int i = 0; i < 4; ++i) input += kLogin;
  Transcript t = converse(host, input);
  std::string one = "+OK send PASS\r\n-ERR [IN-USE] Maildrop is in use by another session\r\n";
  CHECK(t.output == one + one + one + one);
  CHECK_FALSE(t.closed);
}

TEST_CASE("pop3: a store failure at login answers [SYS/TEMP]") {
  FakeHost host = default_host();
  host.forced_outcome = Session::LoginOutcome::temp_failure;
  Transcript t = converse(host, kLogin);
  CHECK(t.output == "+OK send PASS\r\n-ERR [SYS/TEMP] Temporary failure, try again later\r\n");
  CHECK_FALSE(t.closed);
}

TEST_CASE("pop3: APOP with the right digest logs in; the digest goes to the host lower-cased") {
  FakeHost host = default_host();
  host.apop_digests["alice@example.test"] = "9d2c3fd01b3afb0c584ebe2b59fb06cb";
  Transcript t = converse(host, "APOP alice@example.test 9D2C3FD01B3AFB0C584EBE2B59FB06CB\r\n");
  CHECK(t.output == maildrop_line());
  REQUIRE(t.requests.size() == 1);
  auto* apop = std::get_if<LoginApop>(&t.requests[0]);
  REQUIRE(apop);
  CHECK(apop->user == "alice@example.test");
  CHECK(apop->digest == "9d2c3fd01b3afb0c584ebe2b59fb06cb");
  CHECK(t.events[0] == "login-apop user=alice@example.test digest=<redacted>");
}

TEST_CASE("pop3: APOP with a wrong digest is a failed login") {
  Transcript t = converse("APOP alice@example.test 00000000000000000000000000000000\r\n");
  CHECK(t.output == kInvalid);
}

TEST_CASE("pop3: APOP with a malformed digest or arguments is refused before the host") {
  Transcript t = converse(
      "APOP alice@example.test 123\r\nAPOP alice@example.test "
      "zz2c3fd01b3afb0c584ebe2b59fb06cb\r\nAPOP alice@example.test\r\nAPOP a b c\r\n");
  CHECK(t.output ==
        "-ERR malformed APOP digest\r\n-ERR malformed APOP digest\r\n-ERR missing "
        "argument\r\n-ERR too many arguments\r\n");
  CHECK(t.events.empty());
}

TEST_CASE("pop3: APOP without a timestamp in the greeting is not available") {
  FakeHost host = default_host();
  host.params.apop_timestamp.clear();
  Transcript t = converse(host, "APOP alice@example.test 9d2c3fd01b3afb0c584ebe2b59fb06cb\r\n");
  CHECK(t.greeting == "+OK mail.example.test POP3 server ready\r\n");
  CHECK(t.output == "-ERR APOP not available\r\n");
}

TEST_CASE("pop3: AUTH PLAIN with an initial response logs in") {
  Transcript t = converse(kPlainOk);
  CHECK(t.output == maildrop_line());
  CHECK(t.events[0] == "login user=alice@example.test password=<redacted>");
}

TEST_CASE("pop3: AUTH PLAIN without an initial response sends a continuation") {
  Transcript t = converse("AUTH PLAIN\r\nAGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n");
  CHECK(t.output == "+ \r\n" + maildrop_line());
}

TEST_CASE("pop3: the mechanism name is case-insensitive") {
  Transcript t = converse("auth plain AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n");
  CHECK(t.output == maildrop_line());
}

TEST_CASE("pop3: AUTH PLAIN with a password containing spaces") {
  FakeHost host = default_host();
  host.passwords["alice@example.test"] = "pass phrase with spaces";
  Transcript t =
      converse(host, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzIHBocmFzZSB3aXRoIHNwYWNlcw==\r\n");
  CHECK(t.output == maildrop_line());
}

TEST_CASE("pop3: a '*' response cancels AUTH with -ERR") {
  Transcript t = converse("AUTH PLAIN\r\n*\r\nCAPA\r\n");
  CHECK(t.output.starts_with("+ \r\n-ERR authentication cancelled\r\n+OK capability list"));
  CHECK(t.events.empty());
}

TEST_CASE("pop3: an undecodable SASL response is rejected") {
  Transcript t = converse("AUTH PLAIN\r\n!!!!\r\nAUTH PLAIN YWxpY2U=\r\n");
  CHECK(t.output == "+ \r\n-ERR malformed SASL response\r\n-ERR malformed SASL response\r\n");
  CHECK(t.events.empty());
}

TEST_CASE("pop3: AUTH PLAIN with a wrong password is a failed login") {
  Transcript t = converse("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n");
  CHECK(t.output == kInvalid);
}

TEST_CASE("pop3: AUTH PLAIN refuses to act for another user") {
  Transcript other =
      converse("AUTH PLAIN Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAc2VjcmV0\r\n");
  CHECK(other.output == kInvalid);
  CHECK(other.events.empty());  // Refused before the host is asked.
  Transcript same =
      converse("AUTH PLAIN YWxpY2VAZXhhbXBsZS50ZXN0AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n");
  CHECK(same.output == maildrop_line());
}

TEST_CASE("pop3: authzid mismatches count toward the failed-login limit") {
  std::string bad = "AUTH PLAIN Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAc2VjcmV0\r\n";
  Transcript t = converse(bad + bad + bad);
  CHECK(t.closed);
}

TEST_CASE("pop3: AUTH with an unknown mechanism is refused") {
  Transcript t = converse("AUTH CRAM-MD5\r\nAUTH LOGIN\r\n");
  CHECK(t.output ==
        "-ERR unsupported authentication mechanism\r\n-ERR unsupported authentication "
        "mechanism\r\n");
}

TEST_CASE("pop3: AUTH without arguments lists the mechanisms") {
  CHECK(converse("AUTH\r\n").output == "+OK\r\nPLAIN\r\n.\r\n");
  FakeHost host = default_host();
  host.params.plaintext_allowed = false;
  CHECK(converse(host, "AUTH\r\n").output == "+OK\r\n.\r\n");
}

TEST_CASE("pop3: CAPA in AUTHORIZATION lists every capability") {
  Transcript t = converse("CAPA\r\n");
  CHECK(t.output ==
        "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
        "PIPELINING\r\nUSER\r\nSASL PLAIN\r\nEXPIRE NEVER\r\nIMPLEMENTATION postroom\r\n.\r\n");
}

TEST_CASE("pop3: CAPA lists STLS only while it is available") {
  FakeHost host = default_host();
  host.params.stls_available = true;
  CHECK(converse(host, "CAPA\r\n").output.find("\r\nSTLS\r\n") != std::string::npos);
  host.params.tls_active = true;
  CHECK(converse(host, "CAPA\r\n").output.find("STLS") == std::string::npos);
}

TEST_CASE("pop3: without plaintext, USER and SASL PLAIN are neither offered nor accepted") {
  FakeHost host = default_host();
  host.params.plaintext_allowed = false;
  Transcript t = converse(host, std::string("CAPA\r\n") + std::string(kLogin) +
                                    std::string(kPlainOk) + "AUTH PLAIN\r\n");
  std::string capa = t.output.substr(0, t.output.find(".\r\n"));
  CHECK(capa.find("USER") == std::string::npos);
  CHECK(capa.find("SASL") == std::string::npos);
  std::string refused =
      "-ERR [AUTH] Plaintext authentication is not allowed on this connection\r\n";
  CHECK(t.output.ends_with(refused + "-ERR no USER given\r\n" + refused + refused));
  CHECK(t.events.empty());
}

TEST_CASE("pop3: without plaintext but with STLS the refusal points to STLS") {
  FakeHost host = default_host();
  host.params.plaintext_allowed = false;
  host.params.stls_available = true;
  Transcript t = converse(host, "USER alice@example.test\r\n");
  CHECK(t.output == "-ERR [AUTH] Plaintext authentication requires TLS, use STLS first\r\n");
}

TEST_CASE("pop3: APOP works when plaintext is not allowed") {
  FakeHost host = default_host();
  host.params.plaintext_allowed = false;
  host.apop_digests["alice@example.test"] = "9d2c3fd01b3afb0c584ebe2b59fb06cb";
  Transcript t = converse(host, "APOP alice@example.test 9d2c3fd01b3afb0c584ebe2b59fb06cb\r\n");
  CHECK(t.output == maildrop_line());
}

TEST_CASE("pop3: the host may forbid plaintext between USER and PASS") {
  Dialog dialog(default_host());
  dialog.feed("USER alice@example.test\r\n");
  dialog.session().set_plaintext_allowed(false);
  dialog.feed("PASS secret\r\n");
  CHECK(dialog.take_output() ==
        "+OK send PASS\r\n-ERR [AUTH] Plaintext authentication is not allowed on this "
        "connection\r\n");
  CHECK(dialog.transcript().events.empty());
}

TEST_CASE("pop3: TRANSACTION commands are refused in AUTHORIZATION") {
  for (const char* command :
       {"STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL"}) {
    CAPTURE(command);
    Transcript t = converse(std::string(command) + "\r\n");
    CHECK(t.output == "-ERR command not valid in this state\r\n");
  }
}

TEST_CASE("pop3: login names may exceed the 40-character argument limit") {
  std::string name(200, 'a');
  name += "@example.test";
  FakeHost host = default_host();
  host.passwords[name] = "secret";
  Transcript t = converse(host, "USER " + name + "\r\nPASS secret\r\n");
  CHECK(t.output == login_reply());
}

TEST_CASE("pop3: no password or SASL payload reaches a loggable string") {
  std::string attempt = "USER alice@example.test\r\nPASS hunter2\r\n";
  Transcript t =
      converse(attempt + "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABodW50ZXIy\r\n" + attempt);
  CHECK(t.closed);
  CHECK_FALSE(mentions(t, "hunter2"));
  CHECK_FALSE(mentions(t, "AGFsaWNl"));
}
