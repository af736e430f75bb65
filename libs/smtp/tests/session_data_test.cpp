// DATA dialogs: trace fields, unstuffing, smuggling defence, limits and streaming.
#include <doctest/doctest.h>

#include "transcript.hpp"

using namespace postroom::smtp;
using namespace postroom::smtp::test;
using std::string;

namespace {
const string kTrace =
    "Return-Path: <sender@remote.test>\r\n"
    "Received: from client.test ([192.0.2.7])\r\n\tby mail.example.test with ESMTP id S1.1\r\n"
    "\tfor <bob@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n";
const string kStart = ehlo() + mail_rcpt() + "DATA\r\n";
const string kRefusalPrefix = string(kGreeting) + kEhlo +
                              "250 2.1.0 Ok\n[Check bob@example.test]\n250 2.1.5 Ok\n[Begin]\n"
                              "354 End data with <CR><LF>.<CR><LF>\n";
}  // namespace

TEST_CASE("data: dot-stuffed lines are unstuffed, everything else kept byte for byte") {
  auto h = run_both(kStart + "..leading dot\r\n.\r\n" + "a . b\r\n\r\n \t trailing \r\n.\r\n");
  REQUIRE(h.messages.size() == 1);
  CHECK(h.messages[0] == kTrace + ".leading dot\r\n");
  // The rest came after the end of data and was read as commands.
  CHECK(h.transcript.find("500 5.5.2 Error: command not recognized") != string::npos);
}

TEST_CASE(
    "data: bytes after 354 in the same read are message data, commands after the end are "
    "commands") {
  auto h = run_both(kStart + "line\r\n.\r\nNOOP\r\n");
  CHECK(h.messages.at(0) == kTrace + "line\r\n");
  CHECK(h.transcript.ends_with("[End]\n250 2.0.0 Ok: queued as Q1\n250 2.0.0 Ok\n"));
}

TEST_CASE("data: smuggling variants do not end the data; the message is refused with 550 5.6.0") {
  // Each would end the data on a lenient server and start a smuggled MAIL FROM.
  for (const char* end : {"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r"}) {
    CAPTURE(end);
    string smuggled = string("Subject: x\r\n\r\nhi") + end +
                      "MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                      "forged\r\n.\r\nNOOP\r\n";
    auto h = run_both(kStart + smuggled);
    CHECK(h.transcript ==
          kRefusalPrefix +
              "[Abort]\n550 5.6.0 Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)\n"
              "250 2.0.0 Ok\n");
    CHECK(h.messages.empty());
  }
}

TEST_CASE("data: a bare LF anywhere refuses the message after reading all of it") {
  auto h = run_both(kStart + "a\nb\r\n.\r\nQUIT\r\n");
  CHECK(h.transcript ==
        kRefusalPrefix +
            "[Abort]\n550 5.6.0 Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)\n"
            "221 2.0.0 mail.example.test Bye\n[Close quit]\n");
}

TEST_CASE("data: NUL in the message is refused") {
  auto h = run_both(kStart + string("a\0b\r\n.\r\n", 8));
  CHECK(h.transcript.ends_with(
      "[Abort]\n550 5.6.0 Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)\n"));
  CHECK(h.messages.empty());
}

TEST_CASE("data: a text line over 1000 octets is refused after the end of data") {
  auto ok = run_both(kStart + string(998, 'x') + "\r\n.\r\n");
  CHECK(ok.messages.size() == 1);
  auto h = run_both(kStart + string(999, 'x') + "\r\nmore\r\n.\r\nNOOP\r\n");
  CHECK(h.transcript ==
        kRefusalPrefix +
            "[Abort]\n550 5.6.0 Message has a line longer than 998 characters\n250 2.0.0 Ok\n");
}

TEST_CASE("data: more than 50 Received fields is refused as a mail loop") {
  string headers;
  for (int i = 0; i < 51; ++i) headers += "Received: from hop" + std::to_string(i) + "\r\n";
  auto h = run_both(kStart + headers + "\r\nbody\r\n.\r\n");
  CHECK(h.transcript == kRefusalPrefix + "[Abort]\n554 5.4.6 Too many hops (mail loop)\n");
  string fifty;
  for (int i = 0; i < 50; ++i) fifty += "Received: from hop\r\n";
  // Received lines in the body do not count.
  auto body = run_both(kStart + fifty + "\r\n" + fifty + "\r\n.\r\n");
  CHECK(body.messages.size() == 1);
}

TEST_CASE("data: a multi-megabyte message fed in small pieces streams in bounded chunks") {
  Session s(test_params());
  FakeHost host;
  s.feed(kStart);
  host.drain(s);
  string line = string(78, 'm') + "\r\n";
  std::size_t total = 0;
  for (int i = 0; i < 40000; ++i) {  // 3.2 MB
    for (std::size_t off = 0; off < line.size(); off += 7) {
      s.feed(std::string_view(line).substr(off, 7));
      host.drain(s);
    }
    total += line.size();
    // Whatever has not been handed to the host is less than one chunk.
    CHECK(host.current.size() + 70 * 1024 >= kTrace.size() + total);
  }
  s.feed(".\r\n");
  host.drain(s);
  REQUIRE(host.messages.size() == 1);
  CHECK(host.messages[0].size() == kTrace.size() + total);
  CHECK(host.largest_chunk == 64 * 1024);
  CHECK(host.data_actions == (kTrace.size() + total + 65535) / 65536);
}

TEST_CASE("data: over the size limit, MessageData stops at once and the end gets 552 5.3.4") {
  auto p = test_params();
  p.max_message_size = 100 * 1024;
  Session s(p);
  FakeHost host;
  s.feed(kStart);
  host.drain(s);
  string line = string(1022, 'x') + "\r\n";
  line.resize(998);
  line += "\r\n";
  for (int i = 0; i < 2000; ++i) {  // 2 MB
    s.feed(line);
    host.drain(s);
  }
  // Only the first chunk (64 KiB) was handed over before the limit was passed.
  CHECK(host.data_actions == 1);
  s.feed(".\r\nNOOP\r\n");
  host.drain(s);
  string prefix = kRefusalPrefix;
  prefix.replace(prefix.find("SIZE 26214400"), 13, "SIZE 102400");
  CHECK(host.transcript ==
        prefix + "[Abort]\n552 5.3.4 Message size exceeds fixed limit\n250 2.0.0 Ok\n");
  CHECK(host.messages.empty());
  auto log = s.take_transaction_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0].size == 2000 * 1000);
}

TEST_CASE("data: a failed commit answers 451 4.3.0 and the session goes on") {
  FakeHost host;
  host.store = [] { return postroom::Result<string>(postroom::fail("disk full")); };
  auto h = run_both(kStart + "x\r\n.\r\nNOOP\r\n", test_params(), host);
  CHECK(h.transcript.ends_with(
      "[End]\n451 4.3.0 Error: message not stored, try again later\n250 2.0.0 Ok\n"));
  REQUIRE(h.records.size() == 1);
  CHECK(h.records[0].store_error == "disk full");
}

TEST_CASE("data: the 250 comes only after the host reports the commit") {
  Session s(test_params());
  FakeHost host;
  host.auto_answer = false;
  s.feed(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<b@example.test>\r\n");
  host.drain(s);
  s.on_recipient_checked(default_verdict({"b", "example.test"}));
  s.feed("DATA\r\nx\r\n.\r\nNOOP\r\n");
  host.drain(s);
  CHECK(host.transcript.ends_with("[End]\n"));
  CHECK(s.waiting());
  s.on_message_stored(string("Z"));
  host.drain(s);
  CHECK(host.transcript.ends_with("[End]\n250 2.0.0 Ok: queued as Z\n250 2.0.0 Ok\n"));
}

TEST_CASE("data: QUIT in the middle of message text is just text") {
  auto h = run_both(kStart + "QUIT\r\n.\r\n");
  CHECK(h.messages.at(0) == kTrace + "QUIT\r\n");
  CHECK_FALSE(h.closed);
}

TEST_CASE("data: mail to <postmaster> names it without a domain in Received") {
  auto h =
      run_both(ehlo() + "MAIL FROM:<a@remote.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\nx\r\n.\r\n");
  CHECK(h.messages.at(0).find("\tfor <postmaster>; ") != string::npos);
  CHECK(h.envelopes.at(0).recipients.at(0).address == postroom::Address{"postmaster", ""});
}

TEST_CASE("data: a message with several faults gets the same refusal however it is split") {
  // A long line first, a bare LF later: fed byte by byte the long line is found first, fed
  // whole both are found in one slice; either way the bare LF takes precedence.
  auto h = run_both(kStart + string(1200, 'x') + "\r\nbare\nLF\r\n.\r\nNOOP\r\n");
  CHECK(h.transcript.ends_with(
      "550 5.6.0 Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)\n250 2.0.0 Ok\n"));
  // Over the size limit as well: 552 takes precedence over both.
  auto p = test_params();
  p.max_message_size = 1000;
  auto sized =
      run_both(kStart + string("a\0b\r\n", 5) + string(1200, 'x') + "\r\n.\r\nNOOP\r\n", p);
  CHECK(sized.transcript.ends_with("552 5.3.4 Message size exceeds fixed limit\n250 2.0.0 Ok\n"));
  CHECK(sized.messages.empty());
}
