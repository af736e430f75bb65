// BDAT (RFC 3030): argument parsing and chunked transfer dialogs.
#include "bdat.hpp"

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
const string kPrefix =
    string(kGreeting) + kEhlo + "250 2.1.0 Ok\n[Check bob@example.test]\n250 2.1.5 Ok\n";
}  // namespace

TEST_CASE("bdat: arguments are a size and an optional LAST") {
  auto a = parse_bdat("10");
  REQUIRE(a);
  CHECK(a->size == 10);
  CHECK_FALSE(a->last);
  auto b = parse_bdat("0 last");
  REQUIRE(b);
  CHECK(b->size == 0);
  CHECK(b->last);
  for (const char* bad : {"", "x", "-1", "10 FIRST", "10 LAST x", "99999999999999999999", " 10"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_bdat(bad));
  }
}

TEST_CASE("bdat: chunks are read as exact octet counts, without dot processing") {
  string chunk1 = "Subject: b\r\n\r\n.\r\n..x\r";  // a lone dot is data; CRLF split across chunks
  string chunk2 = "\n8-bit \xe4\r\n";
  auto h =
      run_both(ehlo() + mail_rcpt() + "BDAT " + std::to_string(chunk1.size()) + "\r\n" + chunk1 +
               "BDAT " + std::to_string(chunk2.size()) + " LAST\r\n" + chunk2 + "NOOP\r\n");
  CHECK(h.transcript == kPrefix + "[Begin]\n250 2.0.0 21 octets received\n[End]\n" +
                            "250 2.0.0 Ok: queued as Q1\n250 2.0.0 Ok\n");
  REQUIRE(h.messages.size() == 1);
  CHECK(h.messages[0] == kTrace + chunk1 + chunk2);
  CHECK(h.envelopes.at(0).chunking);
}

TEST_CASE("bdat: NUL and bare CR or LF are refused as under DATA, nothing stored") {
  const string refusal = "550 5.6.0 Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)\n";
  for (const string& bad : {string("bare\nLF\r\n"), string("bare\rCR\r\n"),
                            string("a \0 NUL\r\n", 9), string("ends in CR\r")}) {
    CAPTURE(bad);
    auto h = run_both(ehlo() + mail_rcpt() + "BDAT " + std::to_string(bad.size()) + " LAST\r\n" +
                      bad + "NOOP\r\n");
    CHECK(h.transcript == kPrefix + "[Begin]\n[Abort]\n" + refusal + "250 2.0.0 Ok\n");
    CHECK(h.messages.empty());
  }
  // In a first chunk: that chunk is refused, the rest of the transfer is out of sequence.
  auto h = run_both(ehlo() + mail_rcpt() + "BDAT 4\r\na\nb\nBDAT 2 LAST\r\n\r\n");
  CHECK(h.transcript ==
        kPrefix + "[Begin]\n[Abort]\n" + refusal + "503 5.5.1 Error: need MAIL command\n");
}

TEST_CASE("bdat: BDAT 0 LAST ends the message") {
  auto h = run_both(ehlo() + mail_rcpt() + "BDAT 3\r\nabcBDAT 0 LAST\r\n");
  CHECK(h.transcript ==
        kPrefix + "[Begin]\n250 2.0.0 3 octets received\n[End]\n250 2.0.0 Ok: queued as Q1\n");
  CHECK(h.messages.at(0) == kTrace + "abc");
}

TEST_CASE("bdat: DATA after BDAT is out of sequence; RSET aborts the chunked message") {
  auto h = run_both(ehlo() + mail_rcpt() + "BDAT 2\r\nhiDATA\r\nRSET\r\nBDAT 1 LAST\r\nx");
  CHECK(h.transcript == kPrefix +
                            "[Begin]\n250 2.0.0 2 octets received\n"
                            "503 5.5.1 Error: DATA after BDAT\n[Abort]\n250 2.0.0 Ok\n"
                            "503 5.5.1 Error: need MAIL command\n");
  CHECK(h.messages.empty());
}

TEST_CASE("bdat: a refused BDAT still consumes its octets so they are never read as commands") {
  auto h = run_both(ehlo() + "BDAT 12\r\nQUIT\r\nQUIT\r\n" + "MAIL FROM:<a@remote.test>\r\n" +
                    "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
  CHECK(h.transcript == string(kGreeting) + kEhlo +
                            "503 5.5.1 Error: need MAIL command\n250 2.1.0 Ok\n" +
                            "554 5.5.1 Error: no valid recipients\n250 2.0.0 Ok\n");
  CHECK_FALSE(h.closed);
}

TEST_CASE("bdat: an unreadable size is a 501 and nothing is consumed") {
  auto h = run_both(ehlo() + "BDAT ten\r\nNOOP\r\n");
  CHECK(h.transcript.ends_with("501 5.5.4 Syntax: BDAT size [LAST]\n250 2.0.0 Ok\n"));
}

TEST_CASE(
    "bdat: over the size limit the chunk is consumed, refused 552, and later chunks refused") {
  auto p = test_params();
  p.max_message_size = 10;
  auto h = run_both(
      ehlo() + mail_rcpt() + "BDAT 8\r\n12345678BDAT 8\r\n12345678BDAT 2 LAST\r\nxyNOOP\r\n", p);
  string prefix = kPrefix;
  prefix.replace(prefix.find("SIZE 26214400"), 13, "SIZE 10");
  CHECK(h.transcript == prefix +
                            "[Begin]\n250 2.0.0 8 octets received\n[Abort]\n"
                            "552 5.3.4 Message size exceeds fixed limit\n"
                            "503 5.5.1 Error: need MAIL command\n250 2.0.0 Ok\n");
  CHECK(h.messages.empty());
}

TEST_CASE("bdat: a large chunk fed in small pieces streams in 64 KiB chunks") {
  Session s(test_params());
  FakeHost host;
  s.feed(ehlo() + mail_rcpt());
  host.drain(s);
  const std::size_t n = 1 << 20;
  s.feed("BDAT " + std::to_string(n) + " LAST\r\n");
  string piece(4096, 'q');
  for (std::size_t i = 0; i < n; i += piece.size()) {
    s.feed(piece);
    host.drain(s);
  }
  REQUIRE(host.messages.size() == 1);
  CHECK(host.messages[0].size() == kTrace.size() + n);
  CHECK(host.largest_chunk == 64 * 1024);
}

TEST_CASE("bdat: the hop limit applies to chunked messages too") {
  string headers;
  for (int i = 0; i < 51; ++i) headers += "Received: x\r\n";
  headers += "\r\n";
  auto h = run_both(ehlo() + mail_rcpt() + "BDAT " + std::to_string(headers.size()) + " LAST\r\n" +
                    headers);
  CHECK(h.transcript.ends_with("[Begin]\n[Abort]\n554 5.4.6 Too many hops (mail loop)\n"));
}

TEST_CASE("bdat: QUIT during a chunked transfer aborts the message") {
  auto h = run_both(ehlo() + mail_rcpt() + "BDAT 2\r\nhiQUIT\r\n");
  CHECK(h.transcript.ends_with(
      "250 2.0.0 2 octets received\n[Abort]\n221 2.0.0 mail.example.test Bye\n[Close quit]\n"));
}

TEST_CASE("bdat: RCPT after the first chunk is out of sequence") {
  auto h =
      run_both(ehlo() + mail_rcpt() + "BDAT 1\r\nxRCPT TO:<c@example.test>\r\nBDAT 1 LAST\r\ny");
  CHECK(h.transcript.ends_with(
      "250 2.0.0 1 octets received\n503 5.5.1 Error: BDAT transfer in progress\n"
      "[End]\n250 2.0.0 Ok: queued as Q1\n"));
  CHECK(h.envelopes.at(0).recipients.size() == 1);
}
