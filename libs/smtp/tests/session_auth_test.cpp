// AUTH dialogs (RFC 4954): PLAIN, LOGIN, cancellation, failures, and the sender ownership rule.
#include <doctest/doctest.h>

#include "postroom/base/sasl.hpp"
#include "transcript.hpp"

using namespace postroom::smtp;
using namespace postroom::smtp::test;
using std::string;

namespace {
const string kPlain = postroom::sasl::base64_encode(string("\0alice@example.test\0secret", 26));
const string kWrong = postroom::sasl::base64_encode(string("\0alice@example.test\0wrong", 25));
}  // namespace

TEST_CASE(
    "auth: PLAIN with an initial response succeeds with 235 2.7.0, then EHLO stops offering AUTH") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + kPlain + "\r\n" + ehlo());
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo +
            "[Authenticate alice@example.test]\n235 2.7.0 Authentication successful\n"
            "250-mail.example.test\n250-PIPELINING\n250-SIZE 26214400\n250-8BITMIME\n"
            "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250 CHUNKING\n");
  REQUIRE(h.auths.size() == 1);
  CHECK(h.auths[0].password == "secret");
}

TEST_CASE("auth: PLAIN after an empty 334 challenge") {
  auto h = run_both(ehlo() + "AUTH PLAIN\r\n" + kPlain + "\r\n");
  CHECK(h.transcript.ends_with(
      "334 \n[Authenticate alice@example.test]\n235 2.7.0 Authentication successful\n"));
}

TEST_CASE("auth: LOGIN asks for user name and password") {
  auto h =
      run_both(ehlo() + "AUTH LOGIN\r\n" + postroom::sasl::base64_encode("alice@example.test") +
               "\r\n" + postroom::sasl::base64_encode("secret") + "\r\n");
  CHECK(h.transcript.ends_with(
      "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n[Authenticate alice@example.test]\n"
      "235 2.7.0 Authentication successful\n"));
  auto initial =
      run_both(ehlo() + "AUTH LOGIN " + postroom::sasl::base64_encode("alice@example.test") +
               "\r\n" + postroom::sasl::base64_encode("secret") + "\r\n");
  CHECK(
      initial.transcript.ends_with("334 UGFzc3dvcmQ6\n[Authenticate alice@example.test]\n"
                                   "235 2.7.0 Authentication successful\n"));
}

TEST_CASE("auth: wrong credentials are 535 5.7.8 and may be retried") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + kWrong + "\r\nAUTH PLAIN " + kPlain + "\r\n");
  CHECK(h.transcript.ends_with(
      "[Authenticate alice@example.test]\n535 5.7.8 Authentication credentials invalid\n"
      "[Authenticate alice@example.test]\n235 2.7.0 Authentication successful\n"));
}

TEST_CASE("auth: \"*\" cancels with 501 5.7.0; bad base64 is 501 5.5.2") {
  auto h = run_both(ehlo() +
                    "AUTH LOGIN\r\n*\r\nAUTH PLAIN\r\nnot base64!\r\nAUTH PLAIN !!!!\r\nNOOP\r\n");
  CHECK(h.transcript == string(kGreeting) + kEhlo +
                            "334 VXNlcm5hbWU6\n501 5.7.0 Authentication aborted\n"
                            "334 \n501 5.5.2 Invalid base64 data\n501 5.5.2 Invalid base64 data\n"
                            "250 2.0.0 Ok\n");
  CHECK(h.auths.empty());
}

TEST_CASE("auth: a malformed PLAIN message or a foreign authzid is 535 without asking the host") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + postroom::sasl::base64_encode("alice secret") +
                    "\r\nAUTH PLAIN " +
                    postroom::sasl::base64_encode(string("bob\0alice@example.test\0secret", 30)) +
                    "\r\nAUTH PLAIN =\r\n");
  CHECK(h.transcript == string(kGreeting) + kEhlo +
                            "535 5.7.8 Authentication credentials invalid\n"
                            "535 5.7.8 Authentication credentials invalid\n"
                            "535 5.7.8 Authentication credentials invalid\n");
  CHECK(h.auths.empty());
}

TEST_CASE("auth: sequencing: EHLO first, not twice, not inside a transaction; unknown mechanisms") {
  auto h =
      run_both("AUTH PLAIN " + kPlain + "\r\nHELO c\r\nAUTH PLAIN " + kPlain + "\r\n" + ehlo() +
               "AUTH CRAM-MD5\r\nAUTH\r\nMAIL FROM:<a@remote.test>\r\nAUTH PLAIN " + kPlain +
               "\r\nRSET\r\nAUTH PLAIN " + kPlain + "\r\nAUTH PLAIN " + kPlain + "\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + "503 5.5.1 Error: send EHLO first\n250 mail.example.test\n" +
            "503 5.5.1 Error: send EHLO first\n" + kEhlo +
            "504 5.5.4 Unrecognized authentication type\n"
            "501 5.5.4 Syntax: AUTH mechanism [initial-response]\n250 2.1.0 Ok\n"
            "503 5.5.1 Error: MAIL transaction in progress\n250 2.0.0 Ok\n"
            "[Authenticate alice@example.test]\n235 2.7.0 Authentication successful\n"
            "503 5.5.1 Error: already authenticated\n");
}

TEST_CASE("auth: without plaintext permission AUTH is not offered and answers 538 5.7.11") {
  auto p = test_params();
  p.plaintext_auth_allowed = false;
  auto h = run_both(ehlo() + "AUTH PLAIN " + kPlain + "\r\n", p);
  CHECK(h.transcript.find("AUTH PLAIN LOGIN") == string::npos);
  CHECK(h.transcript.ends_with(
      "538 5.7.11 Encryption required for requested authentication mechanism\n"));
  CHECK(h.auths.empty());
}

TEST_CASE("auth: the payload and password appear in no reply, close reason or log record") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + kPlain + "\r\nMAIL FROM:<alice@example.test>\r\n" +
                    "RCPT TO:<x@elsewhere.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n");
  CHECK(h.transcript.find("secret") == string::npos);
  CHECK(h.transcript.find(kPlain) == string::npos);
  for (const auto& r : h.records) {
    CHECK(r.outcome.find("secret") == string::npos);
  }
  CHECK(h.messages.at(0).find("secret") == string::npos);
}

TEST_CASE("auth: an authenticated user may relay, and Received says ESMTPA") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + kPlain + "\r\nMAIL FROM:<alice@example.test>\r\n" +
                    "RCPT TO:<x@elsewhere.test>\r\nDATA\r\nhi\r\n.\r\n");
  CHECK(h.transcript.find("[Check x@elsewhere.test]\n250 2.1.5 Ok\n") != string::npos);
  CHECK(h.messages.at(0).find("with ESMTPA id S1.1") != string::npos);
  CHECK(h.envelopes.at(0).auth_user == "alice@example.test");
}

TEST_CASE("auth: an authenticated user sends only as an owned address (RFC 6409 6.1)") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + kPlain + "\r\nMAIL FROM:<ceo@example.test>\r\n" +
                    "MAIL FROM:<>\r\nMAIL FROM:<Sales@Example.test>\r\n");
  CHECK(h.transcript.ends_with(
      "553 5.7.1 <ceo@example.test>: Sender address rejected: not owned by user\n"
      "553 5.7.1 <>: Sender address rejected: not owned by user\n250 2.1.0 Ok\n"));
}

TEST_CASE("auth: submission accepts MAIL after AUTH") {
  auto p = test_params();
  p.listener = Listener::submission;
  auto h = run_both(ehlo() + "MAIL FROM:<alice@example.test>\r\nAUTH PLAIN " + kPlain +
                        "\r\nMAIL FROM:<alice@example.test>\r\n",
                    p);
  CHECK(h.transcript.ends_with(
      "530 5.7.0 Authentication required\n[Authenticate alice@example.test]\n"
      "235 2.7.0 Authentication successful\n250 2.1.0 Ok\n"));
}

TEST_CASE("auth: a trusted peer on the submission listener still needs AUTH to relay") {
  auto p = test_params();
  p.listener = Listener::submission;
  p.peer_trusted = true;
  auto h = run_both(ehlo() + "MAIL FROM:<alice@example.test>\r\n", p);
  CHECK(h.transcript.ends_with("530 5.7.0 Authentication required\n"));
}

TEST_CASE(
    "auth: SASL responses may exceed 512 octets; beyond 12288 they are refused with 500 5.5.6") {
  string user = postroom::sasl::base64_encode("alice@example.test");
  string long_password(2000, 'p');
  FakeHost host;
  host.check_password = [&](const string& u, const string& pw) {
    return u == "alice@example.test" && pw == long_password;
  };
  auto h = run_both(ehlo() + "AUTH LOGIN\r\n" + user + "\r\n" +
                        postroom::sasl::base64_encode(long_password) + "\r\n",
                    test_params(), host);
  CHECK(h.transcript.ends_with("235 2.7.0 Authentication successful\n"));
  auto big = run_both(ehlo() + "AUTH PLAIN\r\n" + string(13000, 'A') + "\r\nNOOP\r\n");
  CHECK(big.transcript.ends_with(
      "334 \n500 5.5.6 Authentication exchange line is too long\n250 2.0.0 Ok\n"));
}

TEST_CASE("auth: the AUTH command line itself keeps the 512-octet limit (RFC 4954 4)") {
  auto h = run_both(ehlo() + "AUTH PLAIN " + string(600, 'A') + "\r\nNOOP\r\n");
  CHECK(h.transcript.ends_with("500 5.5.2 Line too long\n250 2.0.0 Ok\n"));
}

TEST_CASE("auth: pipelined commands after a successful AUTH wait for the answer") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  s.feed(ehlo() + "AUTH PLAIN " + kPlain +
         "\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n");
  host.drain(s);
  CHECK(s.waiting());
  CHECK(host.transcript.ends_with("[Authenticate alice@example.test]\n"));
  s.on_auth_result(true, {"alice@example.test"});
  host.drain(s);
  CHECK(host.transcript.ends_with(
      "235 2.7.0 Authentication successful\n250 2.1.0 Ok\n[Check x@elsewhere.test]\n"));
}

TEST_CASE("auth: failed logins count toward the error budget") {
  string tries;
  for (int i = 0; i < 20; ++i) tries += "AUTH PLAIN " + kWrong + "\r\n";
  auto h = run_both(ehlo() + tries);
  CHECK(h.transcript.ends_with(
      "535 5.7.8 Authentication credentials invalid\n"
      "421 4.7.0 mail.example.test Too many errors\n[Close too many errors]\n"));
  CHECK(h.auths.size() == 20);
}
