// Dialog tests for STLS (RFC 2595 §4), including the pipelined-injection defence.
#include <doctest/doctest.h>

#include "dialog.hpp"

using namespace postroom::pop3;
using namespace postroom::pop3::testing;

namespace {

FakeHost stls_host() {
  FakeHost host = default_host();
  host.params.stls_available = true;
  host.params.plaintext_allowed = false;
  return host;
}

}  // namespace

TEST_CASE("pop3: STLS answers +OK, then asks for the handshake and waits") {
  Transcript t = converse(stls_host(), "STLS\r\n");
  CHECK(t.output == "+OK Begin TLS negotiation\r\n");
  CHECK(t.events == std::vector<std::string>{"start-tls"});
  Dialog dialog(stls_host());
  dialog.feed("STLS\r\n");
  CHECK(dialog.session().waiting());
}

TEST_CASE("pop3: commands pipelined after STLS are discarded (CVE-2011-0411)") {
  // Whole and byte by byte: either way nothing after the STLS line is a command.
  Transcript t = converse(stls_host(), "STLS\r\nUSER evil\r\nCAPA\r\n");
  CHECK(t.output == "+OK Begin TLS negotiation\r\n");
  CHECK(t.events == std::vector<std::string>{"start-tls"});

  Dialog dialog(stls_host());
  dialog.feed("CAPA\r\nSTLS\r\nUSER evil@example.test\r\n");
  dialog.take_output();
  dialog.feed("PASS injected\r\n");  // plaintext bytes before the handshake
  dialog.session().on_tls_started();
  dialog.run_host();
  CHECK(dialog.take_output().empty());
  CHECK(dialog.session().buffered_input() == 0);
  // The injected USER was never seen: PASS has nothing to go with.
  dialog.feed("PASS secret\r\n");
  CHECK(dialog.take_output() == "-ERR no USER given\r\n");
}

TEST_CASE("pop3: after TLS the session is a fresh AUTHORIZATION state") {
  Dialog dialog(stls_host());
  dialog.feed("USER alice@example.test\r\nSTLS\r\n");
  dialog.take_output();
  dialog.session().on_tls_started();
  CHECK_FALSE(dialog.session().waiting());
  CHECK(dialog.session().state() == State::authorization);
  dialog.feed("PASS secret\r\n");  // The USER from before TLS is forgotten.
  CHECK(dialog.take_output() == "-ERR no USER given\r\n");
  dialog.feed(kLogin);
  CHECK(dialog.take_output() == login_reply());
}

TEST_CASE("pop3: after TLS, CAPA drops STLS and offers plaintext logins") {
  Dialog dialog(stls_host());
  dialog.feed("CAPA\r\n");
  std::string before = dialog.take_output();
  CHECK(before.find("STLS") != std::string::npos);
  CHECK(before.find("USER") == std::string::npos);
  dialog.feed("STLS\r\n");
  dialog.take_output();
  dialog.session().on_tls_started();
  dialog.feed("CAPA\r\nSTLS\r\n");
  std::string after = dialog.take_output();
  CHECK(after ==
        "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
        "PIPELINING\r\nUSER\r\nSASL PLAIN\r\nEXPIRE NEVER\r\nIMPLEMENTATION postroom\r\n.\r\n"
        "-ERR TLS already active\r\n");
}

TEST_CASE("pop3: the host may still forbid plaintext after TLS") {
  Dialog dialog(stls_host());
  dialog.feed("STLS\r\n");
  dialog.session().on_tls_started();
  dialog.session().set_plaintext_allowed(false);
  dialog.take_output();
  dialog.feed("USER alice@example.test\r\n");
  CHECK(dialog.take_output() ==
        "-ERR [AUTH] Plaintext authentication is not allowed on this connection\r\n");
}

TEST_CASE("pop3: STLS without TLS configured is refused") {
  Transcript t = converse("STLS\r\nCAPA\r\n");
  CHECK(t.output.starts_with("-ERR STLS not available\r\n+OK capability list follows\r\n"));
  CHECK(t.events.empty());
}

TEST_CASE("pop3: STLS on a connection that is already TLS is refused") {
  FakeHost host = stls_host();
  host.params.tls_active = true;
  Transcript t = converse(host, "STLS\r\n");
  CHECK(t.output == "-ERR TLS already active\r\n");
}

TEST_CASE("pop3: STLS is refused in TRANSACTION") {
  FakeHost host = stls_host();
  host.params.plaintext_allowed = true;
  Transcript t = converse(host, std::string(kLogin) + "STLS\r\n");
  CHECK(t.output == login_reply() + "-ERR command not valid in this state\r\n");
}
