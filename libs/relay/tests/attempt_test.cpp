// Transcript tests of the outbound attempt: MX order and failover (RFC 5321 §5.1), typed
// outcomes, and the TLS decisions of MTA-STS (RFC 8461) and DANE (RFC 7672).
#include "postroom/relay/attempt.hpp"

#include <doctest/doctest.h>

#include "attempt_transcript.hpp"

using namespace postroom::relay;
using postroom::relay::test::check_attempt;
using postroom::relay::test::check_attempt_messages;

namespace {

AttemptParams direct(std::vector<std::string> recipients = {"bob@remote.test"}) {
  AttemptParams params;
  params.direct = true;
  params.destination = "remote.test";
  params.port = 25;
  params.tls_available = true;
  params.client.hostname = "relay.example.test";
  params.client.envelope.sender = "alice@example.test";
  params.client.envelope.recipients = std::move(recipients);
  params.client.envelope.size = 100;
  return params;
}

}  // namespace

TEST_CASE("attempt: the first MX refuses the connection, the second takes the message") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx 20 mx2.remote.test 10 mx1.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=none
    << refused
    >> a mx2.remote.test
    << a 192.0.2.2
    >> connect mx2.remote.test 192.0.2.2:25 check=none
    << connected
    S: 220 mx2.remote.test ESMTP
    C: EHLO relay.example.test
    S: 250 mx2.remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: t
    C:
    C: hi
    C: .
    S: 250 2.0.0 queued
    C: QUIT
    == report bob@remote.test=delivered
    S: 221 bye
    >> disconnect QUIT answered
    == finished
  )");
  REQUIRE(results.size() == 1);
  CHECK(results[0].kind == Outcome::delivered);
  CHECK(results[0].remote_host == "mx2.remote.test[192.0.2.2]:25");
}

TEST_CASE("attempt: a domain that does not exist bounces at once") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx nxdomain
    == report bob@remote.test=permanent
    == finished
  )");
  REQUIRE(results.size() == 1);
  CHECK(results[0].reply == "5.1.2 domain remote.test does not exist");
  CHECK(results[0].status == "5.1.2");
}

TEST_CASE("attempt: an MX lookup that times out defers") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx temporary
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(results[0].reply == "4.4.3 MX lookup for remote.test failed: timeout");
}

TEST_CASE("attempt: no MX and no address is permanent, no MX but an address is the host") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx nodata
    >> a remote.test
    << a nxdomain
    == report bob@remote.test=permanent
    == finished
  )");
  CHECK(results[0].reply == "5.1.2 domain remote.test has no mail server (no MX, no address)");
  check_attempt(direct(), R"(
    >> mx remote.test
    << mx nodata
    >> a remote.test
    << a temporary
    == report bob@remote.test=temporary
    == finished
  )");
}

TEST_CASE("attempt: a null MX bounces (RFC 7505)") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx 0 .
    == report bob@remote.test=permanent
    == finished
  )");
  CHECK(results[0].status == "5.1.10");
}

TEST_CASE("attempt: a 4xx greeting moves on, and when every host fails the answer is reported") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx 10 mx1.remote.test 20 mx2.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=none
    << connected
    S: 421 4.3.2 too busy
    >> disconnect server said 421
    >> a mx2.remote.test
    << a 192.0.2.2 2001:db8::2
    >> connect mx2.remote.test 192.0.2.2:25 check=none
    << refused
    >> connect mx2.remote.test [2001:db8::2]:25 check=none
    << refused
    == report bob@remote.test=temporary
    == finished
  )");
  // The refusals came later, but the answer of a server outranks them.
  CHECK(results[0].reply == "421 4.3.2 too busy (mx1.remote.test[192.0.2.1]:25)");
  CHECK(results[0].kind == Outcome::temporary);
}

TEST_CASE("attempt: a refusal inside the transaction is final: no other MX is tried") {
  auto results = check_attempt(direct({"a@remote.test", "b@remote.test"}), R"(
    >> mx remote.test
    << mx 10 mx1.remote.test 20 mx2.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=none
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250 mx1
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<a@remote.test>
    S: 450 4.2.1 mailbox busy
    C: RCPT TO:<b@remote.test>
    S: 550 5.1.1 no such user
    C: QUIT
    == report a@remote.test=temporary b@remote.test=permanent
    S: 221 bye
    >> disconnect QUIT answered
    == finished
  )");
  REQUIRE(results.size() == 2);
  CHECK(results[0].reply == "450 4.2.1 mailbox busy");
  CHECK(results[1].kind == Outcome::permanent);
  CHECK(results[1].code == 550);
}

TEST_CASE("attempt: a connection lost during the transaction is final and temporary") {
  auto results = check_attempt(direct(), R"(
    >> mx remote.test
    << mx 10 mx1.remote.test 20 mx2.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=none
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250 mx1
    C: MAIL FROM:<alice@example.test>
    << closed reset by peer
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(results[0].kind == Outcome::temporary);
}

TEST_CASE("attempt: an address literal is the host, without MX or policy lookups") {
  AttemptParams params = direct();
  params.destination = "[192.0.2.9]";
  params.use_mta_sts = true;
  params.use_dane = true;
  check_attempt(params, R"(
    >> a 192.0.2.9
    << a 192.0.2.9
    >> connect 192.0.2.9 192.0.2.9:25 check=none
    << refused
    == report bob@remote.test=temporary
    == finished
  )");
}

TEST_CASE("attempt: MTA-STS enforce skips unlisted MX hosts and never delivers in plaintext") {
  AttemptParams params = direct();
  params.use_mta_sts = true;
  auto results = check_attempt(params, R"(
    >> sts remote.test
    << sts enforce *.remote.test
    ## mta-sts domain=remote.test mode=enforce id=20260101
    >> mx remote.test
    << mx 10 mx.attacker.test 20 mx2.remote.test
    ## mta-sts domain=remote.test mode=enforce: MX mx.attacker.test is not in the policy, not used
    >> a mx2.remote.test
    << a 192.0.2.2
    >> connect mx2.remote.test 192.0.2.2:25 check=pkix enforce mx2.remote.test
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250 mx2
    C: QUIT
    S: 221 bye
    >> disconnect QUIT answered
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(results[0].reply ==
        "4.7.0 TLS required but not offered (mx2.remote.test[192.0.2.2]:25, MTA-STS enforce)");
}

TEST_CASE("attempt: MTA-STS enforce with a certificate that does not verify tries the next MX") {
  AttemptParams params = direct();
  params.use_mta_sts = true;
  auto results = check_attempt(params, R"(
    >> sts remote.test
    << sts enforce mx1.remote.test mx2.remote.test
    ## mta-sts domain=remote.test mode=enforce id=20260101
    >> mx remote.test
    << mx 10 mx1.remote.test 20 mx2.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=pkix enforce mx1.remote.test
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250-mx1
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 go ahead
    >> tls mx1.remote.test check=pkix enforce mx1.remote.test
    << tls failed certificate verify failed
    >> disconnect 4.7.0 TLS handshake failed: certificate verify failed
    >> a mx2.remote.test
    << a 192.0.2.2
    >> connect mx2.remote.test 192.0.2.2:25 check=pkix enforce mx2.remote.test
    << refused
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(results[0].reply ==
        "4.7.0 TLS handshake failed: certificate verify failed (mx1.remote.test[192.0.2.1]:25, "
        "MTA-STS enforce)");
}

TEST_CASE("attempt: MTA-STS testing reports a bad certificate and delivers") {
  AttemptParams params = direct();
  params.use_mta_sts = true;
  auto results = check_attempt(params, R"(
    >> sts remote.test
    << sts testing mx9.remote.test
    ## mta-sts domain=remote.test mode=testing id=20260101
    >> mx remote.test
    << mx 10 mx1.remote.test
    ## mta-sts domain=remote.test mode=testing: MX mx1.remote.test is not in the policy, used anyway
    >> a mx1.remote.test
    << a 192.0.2.1
    >> connect mx1.remote.test 192.0.2.1:25 check=pkix report mx1.remote.test
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250-mx1
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 go ahead
    >> tls mx1.remote.test check=pkix report mx1.remote.test
    << tls unverified hostname mismatch
    ## MTA-STS testing: certificate of mx1.remote.test[192.0.2.1]:25 does not verify (hostname mismatch), delivering anyway
    C: EHLO relay.example.test
    S: 250 mx1
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: t
    C:
    C: hi
    C: .
    S: 250 2.0.0 queued
    C: QUIT
    == report bob@remote.test=delivered
    S: 221 bye
    >> disconnect QUIT answered
    == finished
  )");
  CHECK(results[0].kind == Outcome::delivered);
}

TEST_CASE(
    "attempt: DANE TLSA records make TLS mandatory and checked, a bogus answer skips the host") {
  AttemptParams params = direct();
  params.use_dane = true;
  params.use_mta_sts = true;
  auto results = check_attempt(params, R"(
    >> sts remote.test
    << sts enforce mx1.remote.test mx2.remote.test
    ## mta-sts domain=remote.test mode=enforce id=20260101
    >> mx remote.test
    << mx 10 mx1.remote.test 20 mx2.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> tlsa _25._tcp.mx1.remote.test
    << tlsa bogus
    ## dane host=mx1.remote.test TLSA lookup failed (validation failure), not used
    >> a mx2.remote.test
    << a 192.0.2.2
    >> tlsa _25._tcp.mx2.remote.test
    << tlsa secure 3 1 1 a1b2c3d4e5 0 0 1 ff
    ## dane host=mx2.remote.test 2 TLSA record(s): DANE
    >> connect mx2.remote.test 192.0.2.2:25 check=dane 3.1.1:a1b2c3d4 enforce mx2.remote.test
    << connected
    S: 220 hi
    C: EHLO relay.example.test
    S: 250-mx2
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 go ahead
    >> tls mx2.remote.test check=dane 3.1.1:a1b2c3d4 enforce mx2.remote.test
    << tls failed certificate does not match TLSA
    >> disconnect 4.7.0 TLS handshake failed: certificate does not match TLSA
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(results[0].reply ==
        "4.7.0 TLS handshake failed: certificate does not match TLSA "
        "(mx2.remote.test[192.0.2.2]:25, DANE)");
}

TEST_CASE("attempt: without DNSSEC, TLSA records are ignored (opportunistic TLS)") {
  AttemptParams params = direct();
  params.use_dane = true;
  check_attempt(params, R"(
    >> mx remote.test
    << mx 10 mx1.remote.test
    >> a mx1.remote.test
    << a 192.0.2.1
    >> tlsa _25._tcp.mx1.remote.test
    << tlsa insecure
    >> connect mx1.remote.test 192.0.2.1:25 check=none
    << refused
    == report bob@remote.test=temporary
    == finished
  )");
}

TEST_CASE("attempt: the smarthost is verified against its configured name") {
  AttemptParams params = direct();
  params.direct = false;
  params.destination = "smtp.provider.test";
  params.port = 465;
  params.smarthost_tls = TlsMode::implicit;
  params.use_mta_sts = true;  // ignored for a smarthost
  auto results = check_attempt(params, R"(
    >> a smtp.provider.test
    << a 192.0.2.7
    >> connect smtp.provider.test 192.0.2.7:465 implicit-tls check=pkix enforce smtp.provider.test
    << connected
    << closed TLS handshake failed: certificate verify failed
    == report bob@remote.test=temporary
    == finished
  )");
  CHECK(
      results[0].reply ==
      "4.7.0 TLS handshake failed: certificate verify failed (smtp.provider.test[192.0.2.7]:465)");
}

namespace {

// A plaintext smarthost whose connections may carry up to `max_messages` messages.
AttemptParams reusing_smarthost(std::size_t max_messages = 100) {
  AttemptParams params = direct();
  params.direct = false;
  params.destination = "smtp.provider.test";
  params.port = 587;
  params.smarthost_tls = TlsMode::none;
  params.reuse.max_messages = max_messages;
  return params;
}

// Connect and deliver bob's message; the connection is then idle.
constexpr std::string_view kFirstMessage = R"(
    >> a smtp.provider.test
    << a 192.0.2.7
    >> connect smtp.provider.test 192.0.2.7:587 check=none
    << connected
    S: 220 smtp.provider.test ESMTP
    C: EHLO relay.example.test
    S: 250 smtp.provider.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: t
    C:
    C: hi
    C: .
    S: 250 2.0.0 first
    == report bob@remote.test=delivered
    == idle
)";

// Carol's message on a session that has greeted already.
constexpr std::string_view kCarolTransaction = R"(
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<carol@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: t
    C:
    C: hi
    C: .
    S: 250 2.0.0 second
    == report carol@remote.test=delivered
)";

std::string script(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) {
    out += part;
    out += '\n';
  }
  return out;
}

}  // namespace

TEST_CASE("attempt reuse: the next message goes on the open connection, QUIT at the bound") {
  auto reported = check_attempt_messages(reusing_smarthost(2),
                                         script({kFirstMessage, R"(
    << next carol@remote.test
  )",
                                                 kCarolTransaction, R"(
    C: QUIT
    S: 221 bye
    >> disconnect QUIT answered
    == finished
  )"}),
                                         2);
  REQUIRE(reported.size() == 2);
  CHECK(reported[0][0].reply == "250 2.0.0 first");
  CHECK(reported[1][0].address == "carol@remote.test");
  CHECK(reported[1][0].reply == "250 2.0.0 second");
  CHECK(reported[1][0].remote_host == "smtp.provider.test[192.0.2.7]:587");
}

TEST_CASE("attempt reuse: a refused message is reported alone and the next is delivered") {
  auto reported = check_attempt_messages(reusing_smarthost(), R"(
    >> a smtp.provider.test
    << a 192.0.2.7
    >> connect smtp.provider.test 192.0.2.7:587 check=none
    << connected
    S: 220 smtp.provider.test ESMTP
    C: EHLO relay.example.test
    S: 250 smtp.provider.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<bob@remote.test>
    S: 550 5.1.1 no such user
    == report bob@remote.test=permanent
    C: RSET
    S: 250 ok
    == idle
    << next carol@remote.test
    C: MAIL FROM:<alice@example.test>
    S: 250 ok
    C: RCPT TO:<carol@remote.test>
    S: 250 ok
    C: DATA
    S: 354 go
    == body
    C: Subject: t
    C:
    C: hi
    C: .
    S: 250 2.0.0 second
    == report carol@remote.test=delivered
    == idle
    << quit
    C: QUIT
    S: 221 bye
    >> disconnect QUIT answered
    == finished
  )",
                                         2);
  REQUIRE(reported.size() == 2);
  CHECK(reported[0][0].kind == Outcome::permanent);
  CHECK(reported[1][0].kind == Outcome::delivered);
}

TEST_CASE("attempt reuse: a connection lost before MAIL is answered is retried fresh, uncharged") {
  // The server closes the reused connection as MAIL goes out, or says 421 to it: the
  // message is not reported as failed but sent again on a new connection.
  for (std::string_view drop : {R"(
    << closed connection reset by peer
    ## connection to smtp.provider.test[192.0.2.7]:587 lost after 1 message(s); sending the next on a new connection
  )",
                                R"(
    S: 421 4.3.2 too many messages
    ## connection to smtp.provider.test[192.0.2.7]:587 lost after 1 message(s); sending the next on a new connection
    >> disconnect server said 421
  )"}) {
    CAPTURE(drop);
    auto reported = check_attempt_messages(reusing_smarthost(),
                                           script({kFirstMessage, R"(
      << next carol@remote.test
      C: MAIL FROM:<alice@example.test>
    )",
                                                   drop, R"(
      >> connect smtp.provider.test 192.0.2.7:587 check=none
      << connected
      S: 220 smtp.provider.test ESMTP
      C: EHLO relay.example.test
      S: 250 smtp.provider.test
    )",
                                                   kCarolTransaction, R"(
      == idle
      << quit
      C: QUIT
      S: 221 bye
      >> disconnect QUIT answered
      == finished
    )"}),
                                           2);
    REQUIRE(reported.size() == 2);
    CHECK(reported[1][0].kind == Outcome::delivered);
  }
}

TEST_CASE("attempt reuse: a second drop before MAIL's reply counts as the message's failure") {
  auto reported = check_attempt_messages(reusing_smarthost(), script({kFirstMessage, R"(
    << next carol@remote.test
    C: MAIL FROM:<alice@example.test>
    << closed connection reset by peer
    ## connection to smtp.provider.test[192.0.2.7]:587 lost after 1 message(s); sending the next on a new connection
    >> connect smtp.provider.test 192.0.2.7:587 check=none
    << connected
    S: 220 smtp.provider.test ESMTP
    C: EHLO relay.example.test
    S: 250 smtp.provider.test
    C: MAIL FROM:<alice@example.test>
    << closed connection reset by peer
    == report carol@remote.test=temporary
    == finished
  )"}),
                                         2);
  REQUIRE(reported.size() == 2);
  CHECK(reported[1][0].reply ==
        "4.4.2 connection lost while waiting for the reply to MAIL or RCPT");
}

TEST_CASE("attempt reuse: an idle connection the server closed is replaced for the next message") {
  auto reported = check_attempt_messages(reusing_smarthost(),
                                         script({kFirstMessage, R"(
    << closed idle timeout
    << next carol@remote.test
    >> connect smtp.provider.test 192.0.2.7:587 check=none
    << connected
    S: 220 smtp.provider.test ESMTP
    C: EHLO relay.example.test
    S: 250 smtp.provider.test
  )",
                                                 kCarolTransaction, R"(
    == idle
    << closed idle timeout
    << quit
    == finished
  )"}),
                                         2);
  REQUIRE(reported.size() == 2);
  CHECK(reported[1][0].kind == Outcome::delivered);
}
