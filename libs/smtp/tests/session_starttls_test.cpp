// STARTTLS (RFC 3207): the handshake request, injection defence and the reset afterwards.
#include <doctest/doctest.h>

#include "postroom/base/sasl.hpp"
#include "transcript.hpp"

using namespace postroom::smtp;
using namespace postroom::smtp::test;
using std::string;

namespace {
SessionParams tls_params() {
  auto p = test_params();
  p.starttls_available = true;
  p.plaintext_auth_allowed = false;
  return p;
}
const string kTlsEhlo =
    "250-mail.example.test\n250-PIPELINING\n250-SIZE 26214400\n250-8BITMIME\n"
    "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250-CHUNKING\n250 STARTTLS\n";
}  // namespace

TEST_CASE("starttls: 220 2.0.0 then StartTls; after the handshake the client starts over") {
  auto h = run_both({{ehlo() + "STARTTLS\r\n", [](Session& s) { s.on_tls_started(); }},
                     {"MAIL FROM:<a@remote.test>\r\n" + ehlo()}},
                    tls_params());
  CHECK(h.transcript == string(kGreeting) + kTlsEhlo +
                            "220 2.0.0 Ready to start TLS\n[StartTls]\n" +
                            "503 5.5.1 Error: send HELO/EHLO first\n" + kEhlo);
}

TEST_CASE("starttls: commands pipelined behind STARTTLS are discarded (CVE-2011-0411)") {
  // Sent in the same packet as STARTTLS, and in another before the handshake.
  auto h = run_both({{ehlo() + "STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n"},
                     {"RCPT TO:<bob@example.test>\r\n", [](Session& s) { s.on_tls_started(); }},
                     {ehlo() + "RCPT TO:<bob@example.test>\r\n"}},
                    tls_params());
  CHECK(h.transcript == string(kGreeting) + kTlsEhlo +
                            "220 2.0.0 Ready to start TLS\n[StartTls]\n" + kEhlo +
                            "503 5.5.1 Error: need MAIL command\n");
}

TEST_CASE("starttls: waiting while the handshake runs") {
  Session s(tls_params());
  s.feed(ehlo() + "STARTTLS\r\n");
  CHECK(s.waiting());
  s.on_tls_started();
  CHECK_FALSE(s.waiting());
}

TEST_CASE("starttls: TLS forgets a previous AUTH and marks Received with ESMTPS") {
  auto p = test_params();
  p.starttls_available = true;
  string plain = postroom::sasl::base64_encode(string("\0alice@example.test\0secret", 26));
  auto h = run_both({{ehlo() + "AUTH PLAIN " + plain + "\r\nSTARTTLS\r\n",
                      [](Session& s) { s.on_tls_started(); }},
                     {ehlo() + mail_rcpt("a@remote.test", "x@elsewhere.test") + mail_rcpt() +
                      "DATA\r\nhi\r\n.\r\n"}},
                    p);
  CHECK(h.transcript.find("554 5.7.1 <x@elsewhere.test>: Relay access denied") != string::npos);
  // The second MAIL is nested; bob is added to the first transaction.
  CHECK(h.transcript.find("503 5.5.1 Error: nested MAIL command") != string::npos);
  CHECK(h.messages.size() == 1);
  auto ok = run_both({{ehlo() + "STARTTLS\r\n", [](Session& s) { s.on_tls_started(); }},
                      {ehlo() + mail_rcpt() + "DATA\r\nhi\r\n.\r\n"}},
                     p);
  REQUIRE(ok.messages.size() == 1);
  CHECK(ok.messages[0].find("with ESMTPS id") != string::npos);
}

TEST_CASE("starttls: after TLS, plaintext AUTH is offered even where it was not before") {
  auto h = run_both({{ehlo() + "STARTTLS\r\n", [](Session& s) { s.on_tls_started(); }}, {ehlo()}},
                    tls_params());
  CHECK(h.transcript.ends_with(kEhlo));
}

TEST_CASE(
    "starttls: refused when unavailable, already active, with arguments or in a transaction") {
  auto none = run_both(ehlo() + "STARTTLS\r\n");
  CHECK(none.transcript.ends_with("454 4.7.0 TLS not available\n"));
  auto p = tls_params();
  p.tls_active = true;
  auto active = run_both(ehlo() + "STARTTLS\r\n", p);
  CHECK(active.transcript.ends_with("503 5.5.1 Error: TLS already active\n"));
  auto args = run_both(ehlo() + "STARTTLS now\r\n", tls_params());
  CHECK(args.transcript.ends_with("501 5.5.4 Syntax: STARTTLS\n"));
  auto busy = run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\nSTARTTLS\r\n", tls_params());
  CHECK(busy.transcript.ends_with("503 5.5.1 Error: MAIL transaction in progress\n"));
}
