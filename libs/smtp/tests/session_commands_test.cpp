// Command-level dialogs: greeting, every command, sequencing, limits, relay rules, pipelining.
#include <doctest/doctest.h>

#include "transcript.hpp"

using namespace postroom::smtp;
using namespace postroom::smtp::test;
using std::string;

TEST_CASE("session: greeting names the host; QUIT answers 221 with the host and closes") {
  auto h = run_both("QUIT\r\nNOOP\r\n");
  CHECK(h.transcript == string(kGreeting) + "221 2.0.0 mail.example.test Bye\n[Close quit]\n");
}

TEST_CASE("session: EHLO lists the extensions; HELO lists none") {
  CHECK(run_both(ehlo()).transcript == string(kGreeting) + kEhlo);
  CHECK(run_both("HELO client.test\r\n").transcript ==
        string(kGreeting) + "250 mail.example.test\n");
}

TEST_CASE(
    "session: EHLO offers STARTTLS only when available and not active, AUTH only when allowed") {
  auto p = test_params();
  p.starttls_available = true;
  p.plaintext_auth_allowed = false;
  p.max_message_size = 1000;
  auto h = run_both(ehlo(), p);
  CHECK(h.transcript == string(kGreeting) +
                            "250-mail.example.test\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n"
                            "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250-CHUNKING\n250 STARTTLS\n");
  p.tls_active = true;
  CHECK(run_both(ehlo(), p).transcript.find("STARTTLS") == string::npos);
}

TEST_CASE("session: EHLO without a name or with control characters is a 501") {
  auto h = run_both("EHLO\r\nHELO\r\nEHLO a\x01z\r\nMAIL FROM:<a@b.test>\r\n");
  CHECK(h.transcript == string(kGreeting) +
                            "501 5.5.4 Syntax: EHLO hostname\n501 5.5.4 Syntax: HELO hostname\n"
                            "501 5.5.4 Syntax: EHLO hostname\n"
                            "503 5.5.1 Error: send HELO/EHLO first\n");
}

TEST_CASE("session: EHLO or HELO with a non-ASCII name is a 501 and leaves the session as it was") {
  auto h = run_both("EHLO m\xc3\xa4il.test\r\nHELO \xff\r\nMAIL FROM:<a@b.test>\r\n" + ehlo());
  CHECK(h.transcript == string(kGreeting) +
                            "501 5.5.4 Syntax: EHLO hostname (US-ASCII only)\n"
                            "501 5.5.4 Syntax: HELO hostname (US-ASCII only)\n"
                            "503 5.5.1 Error: send HELO/EHLO first\n" +
                            kEhlo);
}

TEST_CASE("session: a whole mail transaction with DATA") {
  auto h = run_both(ehlo() + mail_rcpt() + "DATA\r\nSubject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo +
            "250 2.1.0 Ok\n[Check bob@example.test]\n250 2.1.5 Ok\n[Begin]\n"
            "354 End data with <CR><LF>.<CR><LF>\n[End]\n"
            "250 2.0.0 Ok: queued as Q1\n221 2.0.0 mail.example.test Bye\n[Close quit]\n");
  REQUIRE(h.messages.size() == 1);
  CHECK(h.messages[0] ==
        "Return-Path: <sender@remote.test>\r\n"
        "Received: from client.test ([192.0.2.7])\r\n\tby mail.example.test with ESMTP id S1.1\r\n"
        "\tfor <bob@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "Subject: hi\r\n\r\nHello\r\n");
  REQUIRE(h.envelopes.size() == 1);
  const Envelope& e = h.envelopes[0];
  CHECK(e.reverse_path->str() == "sender@remote.test");
  REQUIRE(e.recipients.size() == 1);
  CHECK(e.recipients[0].address.str() == "bob@example.test");
  CHECK(e.recipients[0].verdict.mailboxes == std::vector<std::int64_t>{1});
  CHECK(e.helo == "client.test");
  CHECK(e.transaction_id == "S1.1");
  CHECK(e.return_path_length == string("Return-Path: <sender@remote.test>\r\n").size());
  REQUIRE(h.records.size() == 1);
  CHECK(h.records[0].outcome == "250 2.0.0 Ok: queued as Q1");
  CHECK(h.records[0].reverse_path == "<sender@remote.test>");
  CHECK(h.records[0].size == string("Subject: hi\r\n\r\nHello\r\n").size());
}

TEST_CASE("session: commands are case-insensitive") {
  auto h = run_both(
      "ehlo client.test\r\nmail from:<a@remote.test>\r\nrcpt to:<bob@example.test>\r\nnoop\r\n");
  CHECK(h.transcript.ends_with("250 2.1.5 Ok\n250 2.0.0 Ok\n"));
}

TEST_CASE("session: out-of-sequence commands get 503 5.5.1") {
  auto h = run_both("MAIL FROM:<a@remote.test>\r\n" + ehlo() +
                    "RCPT TO:<bob@example.test>\r\nDATA\r\nMAIL FROM:<a@remote.test>\r\n"
                    "MAIL FROM:<a@remote.test>\r\nDATA\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + "503 5.5.1 Error: send HELO/EHLO first\n" + kEhlo +
            "503 5.5.1 Error: need MAIL command\n503 5.5.1 Error: need MAIL command\n"
            "250 2.1.0 Ok\n503 5.5.1 Error: nested MAIL command\n"
            "554 5.5.1 Error: no valid recipients\n");
}

TEST_CASE("session: unknown commands and stray arguments are 500/501") {
  auto h = run_both("FOO\r\nEXPN staff\r\n\r\nRSET x\r\nDATA x\r\nQUIT now\r\n");
  CHECK(h.transcript == string(kGreeting) +
                            "500 5.5.2 Error: command not recognized\n"
                            "500 5.5.2 Error: command not recognized\n"
                            "500 5.5.2 Error: command not recognized\n501 5.5.4 Syntax: RSET\n"
                            "501 5.5.4 Syntax: DATA\n501 5.5.4 Syntax: QUIT\n");
}

TEST_CASE("session: NOOP, RSET, HELP and VRFY; VRFY never says whether a user exists") {
  auto h = run_both(ehlo() + "NOOP anything\r\nHELP\r\nVRFY bob\r\nVRFY unknown\r\nVRFY\r\n" +
                    "MAIL FROM:<a@remote.test>\r\nRSET\r\nRCPT TO:<bob@example.test>\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo + "250 2.0.0 Ok\n" +
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS "
            "AUTH\n"
            "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\n"
            "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\n"
            "501 5.5.4 Syntax: VRFY address\n250 2.1.0 Ok\n250 2.0.0 Ok\n"
            "503 5.5.1 Error: need MAIL command\n");
  REQUIRE(h.records.size() == 1);
  CHECK(h.records[0].outcome == "aborted: rset");
}

TEST_CASE("session: EHLO in the middle of a transaction resets it (RFC 5321 4.1.4)") {
  auto h = run_both(ehlo() + mail_rcpt() + ehlo() + "DATA\r\n");
  CHECK(h.transcript.ends_with(string(kEhlo) + "503 5.5.1 Error: need MAIL command\n"));
}

TEST_CASE("session: the null sender is accepted") {
  auto h = run_both(ehlo() + "MAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n");
  REQUIRE(h.messages.size() == 1);
  CHECK(h.messages[0].starts_with("Return-Path: <>\r\n"));
  CHECK_FALSE(h.envelopes[0].reverse_path);
}

TEST_CASE("session: MAIL SIZE over the limit is 552 5.3.4; BODY and SMTPUTF8 reach the envelope") {
  auto p = test_params();
  p.max_message_size = 1000;
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test> SIZE=1001\r\n" +
                        "MAIL FROM:<a@remote.test> SIZE=1000 BODY=8BITMIME SMTPUTF8 AUTH=<>\r\n" +
                        "RCPT TO:<bob@example.test>\r\nDATA\r\n.\r\n",
                    p);
  CHECK(h.transcript.find("552 5.3.4 Message size exceeds fixed limit\n250 2.1.0 Ok\n") !=
        string::npos);
  REQUIRE(h.envelopes.size() == 1);
  CHECK(h.envelopes[0].body == BodyType::eight_bit_mime);
  CHECK(h.envelopes[0].smtputf8);
  CHECK(*h.envelopes[0].declared_size == 1000);
  // RFC 6531 3.7.3: the Received protocol says UTF8SMTP.
  CHECK(h.messages[0].find("with UTF8SMTP id") != string::npos);
}

TEST_CASE("session: unknown MAIL parameters are 555 5.5.4") {
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test> RET=FULL\r\n");
  CHECK(h.transcript.ends_with("555 5.5.4 Unsupported MAIL parameter\n"));
}

TEST_CASE("session: non-ASCII addresses need the SMTPUTF8 parameter (553 5.6.7)") {
  string utf8 = "j\xc3\xb6rg";
  auto h = run_both(ehlo() + "MAIL FROM:<" + utf8 + "@remote.test>\r\n" +
                    "MAIL FROM:<a@remote.test>\r\nRCPT TO:<" + utf8 + "@example.test>\r\nRSET\r\n" +
                    "MAIL FROM:<" + utf8 + "@remote.test> SMTPUTF8\r\nRCPT TO:<" + utf8 +
                    "@example.test>\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo +
            "553 5.6.7 Non-ASCII sender address requires SMTPUTF8\n250 2.1.0 Ok\n"
            "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8\n250 2.0.0 Ok\n"
            "250 2.1.0 Ok\n[Check " +
            utf8 + "@example.test]\n250 2.1.5 Ok\n");
}

TEST_CASE("session: recipient verdicts map to 250, 550 5.1.1, 451 4.3.0 and 554 5.7.1") {
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\n" +
                    "RCPT TO:<bob@example.test>\r\nRCPT TO:<unknown@example.test>\r\n"
                    "RCPT TO:<tempfail@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo + "250 2.1.0 Ok\n" +
            "[Check bob@example.test]\n250 2.1.5 Ok\n"
            "[Check unknown@example.test]\n550 5.1.1 <unknown@example.test>: Recipient address "
            "rejected: User unknown\n"
            "[Check tempfail@example.test]\n451 4.3.0 <tempfail@example.test>: Temporary lookup "
            "failure, try again later\n"
            "[Check x@elsewhere.test]\n554 5.7.1 <x@elsewhere.test>: Relay access denied\n");
}

TEST_CASE("session: a trusted peer on the mx listener may relay without AUTH") {
  auto p = test_params();
  p.peer_trusted = true;
  auto h = run_both(
      ehlo() +
          "MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\nhi\r\n.\r\n",
      p);
  CHECK(h.transcript.find("[Check x@elsewhere.test]\n250 2.1.5 Ok\n") != string::npos);
  REQUIRE(h.envelopes.size() == 1);
  CHECK(h.envelopes[0].recipients[0].verdict.kind == RecipientVerdict::Kind::remote);
  CHECK(h.envelopes[0].recipients[0].verdict.forward_to == std::vector<string>{"x@elsewhere.test"});
}

TEST_CASE("session: relay tricks are passed as local parts and never relayed") {
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\n" +
                    "RCPT TO:<victim%elsewhere.test@example.test>\r\n"
                    "RCPT TO:<elsewhere.test!victim@example.test>\r\n"
                    "RCPT TO:<\"victim@elsewhere.test\"@example.test>\r\n"
                    "RCPT TO:<@example.test:victim@elsewhere.test>\r\n"
                    "RCPT TO:<victim@elsewhere.test@example.test>\r\n");
  CHECK(h.transcript == string(kGreeting) + kEhlo + "250 2.1.0 Ok\n" +
                            "[Check victim%elsewhere.test@example.test]\n"
                            "550 5.1.1 <victim%elsewhere.test@example.test>: Recipient address "
                            "rejected: User unknown\n"
                            "[Check elsewhere.test!victim@example.test]\n"
                            "550 5.1.1 <elsewhere.test!victim@example.test>: Recipient address "
                            "rejected: User unknown\n"
                            "[Check \"victim@elsewhere.test\"@example.test]\n"
                            "550 5.1.1 <\"victim@elsewhere.test\"@example.test>: Recipient address "
                            "rejected: User unknown\n"
                            "[Check victim@elsewhere.test]\n"
                            "554 5.7.1 <victim@elsewhere.test>: Relay access denied\n"
                            "501 5.1.3 Bad recipient address syntax\n");
}

TEST_CASE("session: <postmaster> without a domain is checked as {postmaster, \"\"}") {
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<Postmaster>\r\n");
  CHECK(h.transcript.ends_with("[Check postmaster@]\n250 2.1.5 Ok\n"));
}

TEST_CASE("session: the recipient limit answers 452 4.5.3 and keeps the accepted ones") {
  auto p = test_params();
  p.max_recipients = 2;
  auto h = run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\n" + "RCPT TO:<b1@example.test>\r\n" +
                        "RCPT TO:<b2@example.test>\r\nRCPT TO:<b3@example.test>\r\nDATA\r\n.\r\n",
                    p);
  CHECK(h.transcript.find("452 4.5.3 Too many recipients\n[Begin]\n") != string::npos);
  REQUIRE(h.envelopes.size() == 1);
  CHECK(h.envelopes[0].recipients.size() == 2);
  // With two recipients the Received field names none of them.
  CHECK(h.messages[0].find("\tfor <") == string::npos);
}

TEST_CASE("session: a command line over 512 octets is refused and the session goes on") {
  string longline = "NOOP " + string(600, 'x') + "\r\n";
  auto h = run_both(longline + "NOOP " + string(505, 'y') + "\r\nNOOP\r\n");
  CHECK(h.transcript ==
        string(kGreeting) + "500 5.5.2 Line too long\n250 2.0.0 Ok\n250 2.0.0 Ok\n");
}

TEST_CASE("session: a very long line is discarded as it arrives, without buffering") {
  Session s(test_params());
  FakeHost host;
  host.drain(s);
  for (int i = 0; i < 1000; ++i) s.feed(string(1000, 'z'));
  s.feed("\r\nNOOP\r\n");
  host.drain(s);
  CHECK(host.transcript == string(kGreeting) + "500 5.5.2 Line too long\n250 2.0.0 Ok\n");
}

TEST_CASE("session: 20 bad commands end the session with 421 4.7.0") {
  string bad;
  for (int i = 0; i < 25; ++i) bad += "BOGUS\r\n";
  auto h = run_both(bad);
  string want = kGreeting;
  for (int i = 0; i < 20; ++i) want += "500 5.5.2 Error: command not recognized\n";
  want += "421 4.7.0 mail.example.test Too many errors\n[Close too many errors]\n";
  CHECK(h.transcript == want);
}

TEST_CASE(
    "session: a pipelined batch is answered in order, pausing at each host check (RFC 2920)") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  host.drain(s);
  s.feed(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<b1@example.test>\r\n" +
         "RCPT TO:<b2@example.test>\r\nDATA\r\nHello\r\n.\r\nQUIT\r\n");
  host.drain(s);
  CHECK(s.waiting());
  CHECK(host.transcript == string(kGreeting) + kEhlo + "250 2.1.0 Ok\n[Check b1@example.test]\n");
  s.on_recipient_checked(default_verdict({"b1", "example.test"}));
  host.drain(s);
  CHECK(host.transcript.ends_with("250 2.1.5 Ok\n[Check b2@example.test]\n"));
  s.on_recipient_checked(default_verdict({"b2", "example.test"}));
  host.drain(s);
  CHECK(host.transcript.ends_with(
      "250 2.1.5 Ok\n[Begin]\n354 End data with <CR><LF>.<CR><LF>\n[End]\n"));
  CHECK(s.waiting());
  CHECK(host.current.ends_with("Hello\r\n"));
  s.on_message_stored(string("42"));
  host.drain(s);
  CHECK(host.transcript.ends_with(
      "250 2.0.0 Ok: queued as 42\n221 2.0.0 mail.example.test Bye\n[Close quit]\n"));
  CHECK(s.closed());
}

TEST_CASE("session: a refused message gets the host's reply, and the session goes on") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  host.drain(s);
  s.feed("EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
  host.drain(s);
  s.on_recipient_checked(default_verdict({"b", "example.test"}));
  host.drain(s);
  s.feed("DATA\r\nHello\r\n.\r\nNOOP\r\n");
  host.drain(s);
  CHECK(s.waiting());
  // Line breaks in a text from outside (a milter) cannot split the reply.
  s.on_message_refused(550, "5.7.1", "Rejected by DMARC policy\r\n250 smuggled");
  host.drain(s);
  CHECK(host.transcript.ends_with(
      "[End]\n550 5.7.1 Rejected by DMARC policy  250 smuggled\n250 2.0.0 Ok\n"));
  auto log = s.take_transaction_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0].outcome == "550 5.7.1 Rejected by DMARC policy  250 smuggled");
  // Not a refusal: a success can only come from on_message_stored.
  s.feed("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
  host.drain(s);
  s.on_recipient_checked(default_verdict({"b", "example.test"}));
  host.drain(s);
  s.feed("DATA\r\nHi\r\n.\r\n");
  host.drain(s);
  s.on_message_refused(250, "2.0.0", "fine");
  host.drain(s);
  CHECK(host.transcript.ends_with("451 4.7.1 fine\n"));
}

TEST_CASE("session: one pipelined batch gets one Send per run of replies") {
  Session s(test_params());
  s.take_actions();
  s.feed("NOOP\r\nNOOP\r\nNOOP\r\n");
  auto actions = s.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Send>(actions[0]).bytes == "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
}

TEST_CASE("session: host answers out of turn are ignored") {
  Session s(test_params());
  s.on_recipient_checked({});
  s.on_auth_result(true, {});
  s.on_message_stored(string("x"));
  s.on_tls_started();
  auto actions = s.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Send>(actions[0]).bytes == "220 mail.example.test ESMTP postroom\r\n");
}

TEST_CASE("session: idle timeout answers 421 4.4.2 with the host name and closes") {
  auto h =
      run_both({{ehlo() + "MAIL FROM:<a@remote.test>\r\n", [](Session& s) { s.on_idle_timeout(); }},
                {"NOOP\r\n"}});
  CHECK(h.transcript.ends_with(
      "250 2.1.0 Ok\n421 4.4.2 mail.example.test Error: timeout exceeded\n[Close idle timeout]\n"));
  REQUIRE(h.records.size() == 1);
  CHECK(h.records[0].outcome == "aborted: idle timeout");
}

TEST_CASE("session: shutdown answers 421 4.3.2 at once when nothing is being committed") {
  auto h = run_both({{ehlo(), [](Session& s) { s.on_shutdown(); }}});
  CHECK(h.transcript ==
        string(kGreeting) + kEhlo +
            "421 4.3.2 mail.example.test Service shutting down\n[Close shutdown]\n");
}

TEST_CASE("session: shutdown during a commit waits for it, then answers 250 and 421") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  s.feed(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<b@example.test>\r\n");
  host.drain(s);
  s.on_recipient_checked(default_verdict({"b", "example.test"}));
  s.feed("DATA\r\nhi\r\n.\r\n");
  host.drain(s);
  CHECK(s.waiting());
  s.on_shutdown();
  host.drain(s);
  CHECK_FALSE(s.closed());
  CHECK(host.transcript.ends_with("[End]\n"));
  s.on_message_stored(string("7"));
  host.drain(s);
  CHECK(
      host.transcript.ends_with("[End]\n250 2.0.0 Ok: queued as 7\n421 4.3.2 mail.example.test "
                                "Service shutting down\n[Close shutdown]\n"));
}

TEST_CASE("session: shutdown in the middle of DATA aborts the message") {
  auto h = run_both(
      {{ehlo() + mail_rcpt() + "DATA\r\nSubject: half\r\n", [](Session& s) { s.on_shutdown(); }}});
  CHECK(
      h.transcript.ends_with("354 End data with <CR><LF>.<CR><LF>\n[Abort]\n421 4.3.2 "
                             "mail.example.test Service shutting down\n[Close shutdown]\n"));
  CHECK(h.messages.empty());
}

TEST_CASE("session: submission listener requires AUTH before MAIL (RFC 6409 4.3)") {
  auto p = test_params();
  p.listener = Listener::submission;
  auto h = run_both(ehlo() + "MAIL FROM:<alice@example.test>\r\n", p);
  CHECK(h.transcript.ends_with("530 5.7.0 Authentication required\n"));
}

TEST_CASE("session: the transaction log names envelope, size and outcome, and each id is new") {
  auto h = run_both(ehlo() + mail_rcpt() + "DATA\r\nabc\r\n.\r\n" + mail_rcpt() +
                    "DATA\r\nx\nbad\r\n.\r\n");
  REQUIRE(h.records.size() == 2);
  CHECK(h.records[0].id == "S1.1");
  CHECK(h.records[0].recipients == std::vector<string>{"bob@example.test"});
  CHECK(h.records[0].size == 5);
  CHECK(h.records[1].id == "S1.2");
  CHECK(h.records[1].outcome.starts_with("550 5.6.0"));
}

TEST_CASE("session: after HELO the Received protocol is plain SMTP") {
  auto h = run_both("HELO old.client\r\n" + mail_rcpt() + "DATA\r\nx\r\n.\r\n");
  CHECK(
      h.messages.at(0).find(
          "Received: from old.client ([192.0.2.7])\r\n\tby mail.example.test with SMTP id S1.1") !=
      string::npos);
}

TEST_CASE("session: state tracing can be switched on without changing behaviour") {
  auto p = test_params();
  p.trace_states = true;
  auto h = run_both(ehlo() + mail_rcpt() + "DATA\r\nx\r\n.\r\n", p);
  CHECK(h.messages.size() == 1);
}

TEST_CASE("session: idle timeout while a recipient check is pending closes at once") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  s.feed(ehlo() + mail_rcpt());
  host.drain(s);
  CHECK(s.waiting());
  s.on_idle_timeout();
  host.drain(s);
  CHECK(s.closed());
  s.on_recipient_checked(default_verdict({"bob", "example.test"}));
  s.feed("NOOP\r\n");
  host.drain(s);
  CHECK(
      host.transcript.ends_with("[Check bob@example.test]\n421 4.4.2 mail.example.test Error: "
                                "timeout exceeded\n[Close idle timeout]\n"));
}

TEST_CASE("session: pipelined commands wait at the reply budget until the host takes the replies") {
  Session session(test_params());
  session.take_actions();
  std::string noops;
  for (int i = 0; i < 10000; ++i) noops += "NOOP\r\n";  // 140,000 octets of replies
  session.feed(noops);
  auto replied = [](const std::vector<Action>& actions) {
    std::size_t n = 0;
    for (const auto& a : actions)
      if (auto* send = std::get_if<Send>(&a)) n += send->bytes.size();
    return n;
  };
  std::size_t total = replied(session.take_actions());
  CHECK(total >= 64 * 1024);
  CHECK(total < 64 * 1024 + 512);
  int rounds = 0;
  while (session.replies_held() && rounds < 10) {
    session.feed({});  // the host's socket has room again
    total += replied(session.take_actions());
    ++rounds;
  }
  CHECK(rounds == 2);
  CHECK(total == 10000 * string("250 2.0.0 Ok\r\n").size());
  CHECK_FALSE(session.closed());
}

TEST_CASE("session: a refused recipient gets the host's reply; the check carries the sender") {
  Session s(test_params());
  s.take_actions();
  s.feed(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<b@example.test>\r\n");
  std::optional<CheckRecipient> check;
  for (auto& action : s.take_actions())
    if (auto* c = std::get_if<CheckRecipient>(&action)) check = *c;
  REQUIRE(check);
  REQUIRE(check->reverse_path);
  CHECK(check->reverse_path->str() == "a@remote.test");
  CHECK_FALSE(check->authenticated);
  CHECK_FALSE(check->declared_size);
  RecipientVerdict refused;
  refused.kind = RecipientVerdict::Kind::refused;
  refused.code = 451;
  refused.enhanced = "4.7.1";
  refused.text = "Greylisted, please try again later";
  s.on_recipient_checked(refused);
  auto actions = s.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Send>(actions[0]).bytes ==
        "451 4.7.1 <b@example.test>: Greylisted, please try again later\r\n");
  // Nothing was accepted: DATA still needs a recipient.
  s.feed("DATA\r\n");
  CHECK(std::get<Send>(s.take_actions()[0]).bytes.starts_with("554 5.5.1"));
}

TEST_CASE("session: the recipient check carries MAIL's SIZE= for the host's quota") {
  Session s(test_params());
  s.take_actions();
  s.feed(ehlo() + "MAIL FROM:<a@remote.test> SIZE=4096\r\nRCPT TO:<b@example.test>\r\n");
  std::optional<CheckRecipient> check;
  for (auto& action : s.take_actions())
    if (auto* c = std::get_if<CheckRecipient>(&action)) check = *c;
  REQUIRE(check);
  CHECK(check->declared_size == std::optional<std::uint64_t>(4096));
}
