// Transcript tests of the SMTP client session: each dialog fed whole and one byte at a time.
#include "postroom/relay/client_session.hpp"

#include <doctest/doctest.h>

#include "transcript.hpp"

using namespace postroom::relay;
using postroom::relay::test::check_transcript;
using postroom::relay::test::check_transcript_dones;

namespace {

ClientParams basic_params(std::vector<std::string> recipients = {"bob@remote.test"}) {
  ClientParams params;
  params.hostname = "relay.example.test";
  params.tls = TlsMode::none;
  params.envelope.sender = "alice@example.test";
  params.envelope.recipients = std::move(recipients);
  params.envelope.size = 1234;
  return params;
}

constexpr std::string_view kBody = "Subject: hi\r\n\r\nhello\r\n";

}  // namespace

TEST_CASE("relay client: plain delivery without extensions beyond 8BITMIME") {
  auto results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250-mx.remote.test hello
    S: 250 8BITMIME
    C: MAIL FROM:<alice@example.test>
    S: 250 2.1.0 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 2.1.5 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 queued as 123
    C: QUIT
    == done
    S: 221 2.0.0 bye
    == close
  )",
                                  kBody);
  REQUIRE(results.size() == 1);
  CHECK(results[0].address == "bob@remote.test");
  CHECK(results[0].kind == Outcome::delivered);
  CHECK(results[0].reply == "250 2.0.0 queued as 123");
  CHECK(results[0].code == 250);
  CHECK(results[0].status == "2.0.0");
  CHECK(results[0].remote_host.empty());
}

TEST_CASE("relay client: pipelined MAIL and RCPTs, one recipient refused") {
  ClientParams params = basic_params({"a@remote.test", "nobody@remote.test", "c@remote.test"});
  params.envelope.body_8bit = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250-PIPELINING
    S: 250-SIZE 10000000
    S: 250 8BITMIME
    C: MAIL FROM:<alice@example.test> SIZE=1234 BODY=8BITMIME
    C: RCPT TO:<a@remote.test>
    C: RCPT TO:<nobody@remote.test>
    C: RCPT TO:<c@remote.test>
    S: 250 2.1.0 ok
    S: 250 2.1.5 ok
    S: 550-5.1.1 no such user
    S: 550 5.1.1 see https://example.test/help
    S: 250 2.1.5 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  REQUIRE(results.size() == 3);
  CHECK(results[0].kind == Outcome::delivered);
  CHECK(results[1].kind == Outcome::permanent);
  CHECK(results[1].reply == "550 5.1.1 no such user see https://example.test/help");
  CHECK(results[1].status == "5.1.1");
  CHECK(results[2].kind == Outcome::delivered);
}

TEST_CASE("relay client: 4xx on RCPT is a temporary failure for that recipient only") {
  auto results = check_transcript(basic_params({"a@remote.test", "b@remote.test"}), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<a@remote.test>
    S: 451 4.3.0 greylisted, try later
    C: RCPT TO:<b@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  REQUIRE(results.size() == 2);
  CHECK(results[0].kind == Outcome::temporary);
  CHECK(results[0].reply == "451 4.3.0 greylisted, try later");
  CHECK(results[1].kind == Outcome::delivered);
  CHECK(results[1].status == "2.0.0");  // derived from the class: the reply had no enhanced code
}

TEST_CASE("relay client: 5xx after the end of data fails every accepted recipient") {
  auto results = check_transcript(basic_params({"a@remote.test", "b@remote.test"}), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 PIPELINING
    C: MAIL FROM:<alice@example.test>
    C: RCPT TO:<a@remote.test>
    C: RCPT TO:<b@remote.test>
    S: 250 ok
    S: 250 ok
    S: 452 4.2.2 mailbox full
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 554 5.7.1 message rejected as spam
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  REQUIRE(results.size() == 2);
  CHECK(results[0].kind == Outcome::permanent);
  CHECK(results[0].reply == "554 5.7.1 message rejected as spam");
  CHECK(results[1].kind == Outcome::temporary);  // its RCPT reply stands
  CHECK(results[1].reply == "452 4.2.2 mailbox full");
}

TEST_CASE("relay client: 421 mid-session fails everything pending and closes without QUIT") {
  auto results = check_transcript(basic_params({"a@remote.test", "b@remote.test"}), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<a@remote.test>
    S: 550 5.1.1 unknown
    C: RCPT TO:<b@remote.test>
    S: 421 4.3.2 shutting down
    == done
    == close
  )");
  REQUIRE(results.size() == 2);
  CHECK(results[0].kind == Outcome::permanent);
  CHECK(results[1].kind == Outcome::temporary);
  CHECK(results[1].reply == "421 4.3.2 shutting down");
  CHECK(results[1].code == 421);
}

TEST_CASE("relay client: EHLO refused falls back to HELO without extensions") {
  ClientParams params = basic_params();
  params.envelope.body_8bit = true;
  auto results = check_transcript(params, R"(
    S: 220 old.remote.test SMTP
    C: EHLO relay.example.test
    S: 502 5.5.2 command not recognized
    C: HELO relay.example.test
    S: 250 old.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  CHECK(results.at(0).kind == Outcome::delivered);
}

TEST_CASE("relay client: HELO refused too is a permanent failure") {
  auto results = check_transcript(basic_params(), R"(
    S: 220 old.remote.test SMTP
    C: EHLO relay.example.test
    S: 500 what
    C: HELO relay.example.test
    S: 550 5.7.1 go away
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
  CHECK(results.at(0).reply == "550 5.7.1 go away");
}

TEST_CASE("relay client: opportunistic STARTTLS when offered, then EHLO again") {
  ClientParams params = basic_params();
  params.tls = TlsMode::opportunistic;
  params.tls_available = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250-PIPELINING
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 2.0.0 ready
    == tls
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 SIZE 5000
    C: MAIL FROM:<alice@example.test> SIZE=1234
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  CHECK(results.at(0).kind == Outcome::delivered);
}

TEST_CASE("relay client: opportunistic STARTTLS refused goes on in plaintext") {
  ClientParams params = basic_params();
  params.tls = TlsMode::opportunistic;
  params.tls_available = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 STARTTLS
    C: STARTTLS
    S: 454 4.7.0 TLS not available
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 unknown
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
}

TEST_CASE("relay client: opportunistic TLS is skipped when the host cannot do TLS") {
  ClientParams params = basic_params();
  params.tls = TlsMode::opportunistic;
  params.tls_available = false;
  check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 STARTTLS
    C: MAIL FROM:<alice@example.test>
    S: 421 4.4.2 idle
    == done
    == close
  )");
}

TEST_CASE("relay client: required TLS not offered is a temporary failure") {
  ClientParams params = basic_params();
  params.tls = TlsMode::required;
  params.tls_available = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 PIPELINING
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).reply == "4.7.0 TLS required but not offered");
  CHECK(results.at(0).code == 0);
  CHECK(results.at(0).status == "4.7.0");
}

TEST_CASE("relay client: required TLS with STARTTLS refused is a temporary failure") {
  ClientParams params = basic_params();
  params.tls = TlsMode::required;
  params.tls_available = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 STARTTLS
    C: STARTTLS
    S: 554 5.7.0 no TLS for you
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).reply == "4.7.0 TLS required but STARTTLS failed: 554 5.7.0 no TLS for you");
}

TEST_CASE("relay client: a failed TLS handshake fails the delivery temporarily") {
  ClientParams params = basic_params();
  params.tls = TlsMode::required;
  params.tls_available = true;
  ClientSession session(params);
  session.feed("220 mx\r\n");
  session.take_actions();
  session.feed("250-mx\r\n250 STARTTLS\r\n");
  session.take_actions();
  session.feed("220 go\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::holds_alternative<StartTls>(actions[0]));
  session.on_tls_failed("certificate verify failed");
  actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  auto* done = std::get_if<Done>(&actions[0]);
  REQUIRE(done != nullptr);
  CHECK(done->results.at(0).kind == Outcome::temporary);
  CHECK(done->results.at(0).reply == "4.7.0 TLS handshake failed: certificate verify failed");
  CHECK(std::holds_alternative<Close>(actions[1]));
  CHECK(session.closed());
}

TEST_CASE("relay client: data pipelined behind the STARTTLS 220 is refused (RFC 3207 §5)") {
  ClientParams params = basic_params();
  params.tls = TlsMode::opportunistic;
  params.tls_available = true;
  ClientSession session(params);
  session.feed("220 mx\r\n");
  session.feed("250-mx\r\n250 STARTTLS\r\n");
  session.take_actions();
  session.feed("220 go\r\n250 injected\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  auto* done = std::get_if<Done>(&actions[0]);
  REQUIRE(done != nullptr);
  CHECK(done->results.at(0).reply == "4.7.0 server sent data after its STARTTLS reply");
  CHECK(std::holds_alternative<Close>(actions[1]));

  // Plaintext fed while the host runs the handshake is refused the same way.
  ClientSession second(params);
  second.feed("220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n");
  second.take_actions();
  CHECK(second.state() == ClientSession::State::tls_handshake);
  second.feed("250 injected\r\n");
  actions = second.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Done>(actions[0]).results.at(0).reply ==
        "4.7.0 server sent plaintext during the TLS handshake");
}

TEST_CASE("relay client: AUTH PLAIN over implicit TLS succeeds") {
  ClientParams params = basic_params();
  params.tls = TlsMode::implicit;
  params.credentials = Credentials{"user", "pass"};
  const std::string_view script = R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250-AUTH LOGIN PLAIN
    S: 250 PIPELINING
    C: AUTH PLAIN AHVzZXIAcGFzcw==
    S: 235 2.7.0 authenticated
    C: MAIL FROM:<alice@example.test>
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )";
  auto results = check_transcript(params, script, kBody);
  CHECK(results.at(0).kind == Outcome::delivered);
  // The AUTH payload is flagged so a trace can redact it; nothing else is.
  auto run = test::run(params, script, kBody, {});
  REQUIRE(run.sensitive_sends.size() >= 2);
  CHECK_FALSE(run.sensitive_sends[0]);
  CHECK(run.sensitive_sends[1]);
  CHECK_FALSE(run.sensitive_sends[2]);
}

TEST_CASE("relay client: AUTH PLAIN refused, permanently or temporarily by reply class") {
  ClientParams params = basic_params();
  params.tls = TlsMode::implicit;
  params.credentials = Credentials{"user", "wrong"};
  auto results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH PLAIN
    C: AUTH PLAIN AHVzZXIAd3Jvbmc=
    S: 535 5.7.8 authentication credentials invalid
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
  CHECK(results.at(0).reply == "535 5.7.8 authentication credentials invalid");

  results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH PLAIN
    C: AUTH PLAIN AHVzZXIAd3Jvbmc=
    S: 454 4.7.0 temporary authentication failure
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
}

TEST_CASE("relay client: AUTH LOGIN when PLAIN is not offered (old AUTH= syntax too)") {
  ClientParams params = basic_params();
  params.tls = TlsMode::none;  // the admin chose a plaintext smarthost: AUTH allowed
  params.credentials = Credentials{"user", "pass"};
  auto results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH=LOGIN
    C: AUTH LOGIN
    S: 334 VXNlcm5hbWU6
    C: dXNlcg==
    S: 334 UGFzc3dvcmQ6
    C: cGFzcw==
    S: 235 2.7.0 ok
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 unknown
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
}

TEST_CASE("relay client: credentials are never sent without TLS unless TLS mode is none") {
  ClientParams params = basic_params();
  params.tls = TlsMode::opportunistic;
  params.tls_available = false;
  params.credentials = Credentials{"user", "pass"};
  auto results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH PLAIN
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).reply == "4.7.0 not sending credentials without TLS");
}

TEST_CASE("relay client: credentials but no usable AUTH mechanism is a temporary failure") {
  ClientParams params = basic_params();
  params.tls = TlsMode::implicit;
  params.credentials = Credentials{"user", "pass"};
  auto results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH CRAM-MD5 XOAUTH2
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).reply ==
        "4.7.0 the server offers no AUTH mechanism we support (PLAIN, LOGIN)");
}

TEST_CASE("relay client: SMTPUTF8 needed but missing fails permanently (RFC 6531 §3.4)") {
  ClientParams params = basic_params({"a@remote.test", "b@remote.test"});
  params.envelope.needs_smtputf8 = true;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 8BITMIME
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  REQUIRE(results.size() == 2);
  for (const RecipientResult& result : results) {
    CHECK(result.kind == Outcome::permanent);
    CHECK(result.reply == "5.6.7 server does not support SMTPUTF8");
    CHECK(result.status == "5.6.7");
  }
}

TEST_CASE("relay client: SMTPUTF8 offered adds the MAIL parameter") {
  ClientParams params = basic_params({"bjørn@remote.test"});
  params.envelope.needs_smtputf8 = true;
  params.envelope.body_8bit = true;
  check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250-SMTPUTF8
    S: 250 8BITMIME
    C: MAIL FROM:<alice@example.test> BODY=8BITMIME SMTPUTF8
    S: 250 ok
    C: RCPT TO:<bjørn@remote.test>
    S: 450 4.2.0 later
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
}

TEST_CASE("relay client: a message over the server's SIZE fails permanently with 5.3.4") {
  ClientParams params = basic_params();
  params.envelope.size = 2'000'000;
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 SIZE 1000000
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
  CHECK(results.at(0).status == "5.3.4");
  CHECK(results.at(0).reply ==
        "5.3.4 message size 2000000 exceeds the server's limit of 1000000 octets");
}

TEST_CASE("relay client: SIZE 0 means no limit (RFC 1870 §4)") {
  ClientParams params = basic_params();
  params.envelope.size = 2'000'000;
  check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 SIZE
    C: MAIL FROM:<alice@example.test> SIZE=2000000
    S: 452 4.3.1 insufficient system storage
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
}

TEST_CASE("relay client: body is dot-stuffed and bare LF becomes CRLF") {
  auto results =
      check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: dots
    C:
    C: ..hidden
    C: line2
    C: ..
    C: ...x
    C: ends without newline
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                       "Subject: dots\n\n.hidden\nline2\r\n.\n..x\nends without newline");
  CHECK(results.at(0).kind == Outcome::delivered);
}

TEST_CASE("relay client: null sender, and MAIL refused under pipelining") {
  ClientParams params = basic_params({"a@remote.test", "b@remote.test"});
  params.envelope.sender = "";
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 PIPELINING
    C: MAIL FROM:<>
    C: RCPT TO:<a@remote.test>
    C: RCPT TO:<b@remote.test>
    S: 550 5.7.1 null sender refused
    S: 503 5.5.1 need MAIL first
    S: 503 5.5.1 need MAIL first
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  REQUIRE(results.size() == 2);
  for (const RecipientResult& result : results) {
    CHECK(result.kind == Outcome::permanent);
    CHECK(result.reply == "550 5.7.1 null sender refused");
  }
}

TEST_CASE("relay client: every recipient refused means no DATA") {
  auto results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 unknown
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
}

TEST_CASE("relay client: greeting 5xx fails permanently, greeting 4xx temporarily") {
  auto results = check_transcript(basic_params(), R"(
    S: 554 5.7.1 no service for you
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
  CHECK(results.at(0).reply == "554 5.7.1 no service for you");

  results = check_transcript(basic_params(), R"(
    S: 421 4.3.2 too busy
    == done
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);

  results = check_transcript(basic_params(), R"(
    S: 450 busy
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).status == "4.0.0");
}

TEST_CASE("relay client: a server reply in the middle of the body ends the session") {
  ClientParams params = basic_params();
  ClientSession session(params);
  session.feed("220 mx\r\n250 mx\r\n");
  session.take_actions();
  session.feed("250 ok\r\n");
  session.take_actions();
  session.feed("250 ok\r\n");
  session.take_actions();
  session.feed("354 go\r\n");
  session.take_actions();
  CHECK(session.body_wanted());
  session.send_body_chunk("Subject: big\r\n\r\n");
  session.feed("552 5.3.4 too big\r\n");
  CHECK_FALSE(session.body_wanted());
  session.send_body_chunk("ignored");
  session.end_body();
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 3);
  CHECK(std::get<Send>(actions[0]).bytes == "Subject: big\r\n\r\n");
  CHECK(std::get<Done>(actions[1]).results.at(0).kind == Outcome::permanent);
  CHECK(std::holds_alternative<Close>(actions[2]));
}

TEST_CASE("relay client: timeout and disconnect fail pending recipients temporarily") {
  auto results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    !! timeout
    == done
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).reply == "4.4.2 timed out waiting for the reply to MAIL or RCPT");

  results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    !! disconnect
    == done
    == close
  )");
  CHECK(results.at(0).reply == "4.4.2 connection lost while waiting for the reply to EHLO");

  // After QUIT the results stand; a timeout only closes.
  results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 unknown
    C: QUIT
    == done
    !! timeout
    == close
  )");
  CHECK(results.at(0).kind == Outcome::permanent);
}

TEST_CASE("relay client: a malformed or over-long reply line fails the connection temporarily") {
  auto results = check_transcript(basic_params(), R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: hello there
    == done
    == close
  )");
  CHECK(results.at(0).kind == Outcome::temporary);
  CHECK(results.at(0).reply == "4.5.0 protocol error: unparseable reply line");

  const std::string long_line = "250 " + std::string(5000, 'x');
  results =
      check_transcript(basic_params(), "S: 220 mx\nC: EHLO relay.example.test\nS: " + long_line +
                                           "\n== done\n== close\n");
  CHECK(results.at(0).reply == "4.5.0 protocol error: reply line longer than 4096 octets");
}

TEST_CASE("relay client: unsafe addresses never reach the wire") {
  ClientParams params = basic_params({"ok@remote.test", "evil@remote.test>\r\nDATA"});
  auto results = check_transcript(params, R"(
    S: 220 mx.remote.test
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<ok@remote.test>
    S: 550 no
    C: QUIT
    == done
    S: 221 bye
    == close
  )");
  REQUIRE(results.size() == 2);
  CHECK(results[1].kind == Outcome::permanent);
  CHECK(results[1].status == "5.1.3");

  ClientParams bad_sender = basic_params();
  bad_sender.envelope.sender = "a@b>\r\nRSET";
  ClientSession session(bad_sender);
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Done>(actions[0]).results.at(0).status == "5.1.7");
  CHECK(session.closed());
}

TEST_CASE("relay client: no recipients means an empty Done at once") {
  ClientSession session(basic_params({}));
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Done>(actions[0]).results.empty());
  CHECK(std::holds_alternative<Close>(actions[1]));
}

TEST_CASE("relay client: describe() redacts AUTH payloads") {
  CHECK(describe(Send{"AUTH PLAIN AHVzZXIAcGFzcw==\r\n", true}) == "send <redacted>");
  CHECK(describe(Send{"QUIT\r\n", false}) == "send 6 octets");
  CHECK(describe(Close{"QUIT answered"}) == "close reason=QUIT answered");
}

TEST_CASE("relay client: AUTH waits for STARTTLS and uses the post-TLS EHLO list") {
  ClientParams params = basic_params();
  params.tls = TlsMode::required;
  params.tls_available = true;
  params.credentials = Credentials{"user", "pass"};
  auto results = check_transcript(params, R"(
    S: 220 smarthost.provider.test
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 go ahead
    == tls
    C: EHLO relay.example.test
    S: 250-smarthost.provider.test
    S: 250 AUTH PLAIN
    C: AUTH PLAIN AHVzZXIAcGFzcw==
    S: 235 ok
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 ok
    C: QUIT
    == done
    S: 221 bye
    == close
  )",
                                  kBody);
  CHECK(results.at(0).kind == Outcome::delivered);
}

namespace {

ClientParams reuse_params() {
  ClientParams params = basic_params();
  params.reuse = true;
  return params;
}

}  // namespace

TEST_CASE("relay client reuse: a second envelope goes on the same session without RSET") {
  auto dones = check_transcript_dones(reuse_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250-mx.remote.test
    S: 250 PIPELINING
    C: MAIL FROM:<alice@example.test>
    C: RCPT TO:<bob@remote.test>
    S: 250 2.1.0 ok
    S: 250 2.1.5 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 first
    == done
    == ready
    !! next carol@remote.test
    C: MAIL FROM:<alice@example.test>
    C: RCPT TO:<carol@remote.test>
    S: 250 2.1.0 ok
    S: 250 2.1.5 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 second
    == done
    == ready
    !! quit
    C: QUIT
    S: 221 bye
    == close
  )",
                                      kBody);
  REQUIRE(dones.size() == 2);
  REQUIRE(dones[0].size() == 1);
  REQUIRE(dones[1].size() == 1);
  CHECK(dones[0][0].address == "bob@remote.test");
  CHECK(dones[0][0].reply == "250 2.0.0 first");
  CHECK(dones[1][0].address == "carol@remote.test");
  CHECK(dones[1][0].kind == Outcome::delivered);
  CHECK(dones[1][0].reply == "250 2.0.0 second");
}

TEST_CASE("relay client reuse: a message refused after its data does not fail the next") {
  auto dones = check_transcript_dones(reuse_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 554 5.7.1 content refused
    == done
    == ready
    !! next carol@remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<carol@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 ok
    == done
    == ready
  )",
                                      kBody);
  REQUIRE(dones.size() == 2);
  CHECK(dones[0][0].kind == Outcome::permanent);
  CHECK(dones[0][0].status == "5.7.1");
  CHECK(dones[1][0].kind == Outcome::delivered);
}

TEST_CASE("relay client reuse: refused recipients leave MAIL open, so RSET comes first") {
  auto dones = check_transcript_dones(reuse_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 no such user
    == done
    C: RSET
    S: 250 2.0.0 reset
    == ready
    !! next carol@remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<carol@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go ahead
    == body
    C: Subject: hi
    C:
    C: hello
    C: .
    S: 250 2.0.0 ok
    == done
    == ready
  )",
                                      kBody);
  REQUIRE(dones.size() == 2);
  CHECK(dones[0][0].kind == Outcome::permanent);
  CHECK(dones[0][0].reply == "550 5.1.1 no such user");
  CHECK(dones[1][0].kind == Outcome::delivered);
  // A server that will not reset gets QUIT, not another envelope.
  check_transcript(reuse_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 450 4.2.0 busy
    == done
    C: RSET
    S: 500 what
    C: QUIT
    S: 221 bye
    == close
  )");
}

TEST_CASE("relay client reuse: a drop before MAIL is answered marks the message unanswered") {
  for (std::string_view end : {"!! disconnect", "S: 421 4.3.2 closing idle connection"}) {
    CAPTURE(end);
    std::string script = R"(
      S: 220 mx.remote.test ESMTP
      C: EHLO relay.example.test
      S: 250 mx.remote.test
      C: MAIL FROM:<alice@example.test>
      S: 250 ok
      C: RCPT TO:<bob@remote.test>
      S: 250 ok
      C: DATA
      S: 354 go ahead
      == body
      C: Subject: hi
      C:
      C: hello
      C: .
      S: 250 2.0.0 first
      == done
      == ready
      !! next carol@remote.test
      C: MAIL FROM:<alice@example.test>
      )" + std::string(end) +
                         R"(
      == done
      == close
    )";
    auto dones = check_transcript_dones(reuse_params(), script, kBody);
    REQUIRE(dones.size() == 2);
    CHECK(dones[0][0].kind == Outcome::delivered);
    CHECK(dones[1][0].kind == Outcome::temporary);
    auto run = postroom::relay::test::run(reuse_params(), script, kBody, {});
    CHECK(run.unanswered == std::vector<bool>{false, true});
  }
  // Once MAIL is answered the server has seen the message's transaction: a drop then is the
  // message's failure like any other.
  auto run = postroom::relay::test::run(reuse_params(), R"(
    S: 220 mx.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250 mx.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go ahead
    == body
    S: 250 2.0.0 first
    !! next carol@remote.test
    S: 250 ok
    !! disconnect
  )",
                                        kBody, {});
  CHECK(run.unanswered == std::vector<bool>{false, false});
  REQUIRE(run.dones.size() == 2);
  CHECK(run.dones[1][0].reply ==
        "4.4.2 connection lost while waiting for the reply to MAIL or RCPT");
}
