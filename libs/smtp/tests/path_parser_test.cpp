#include "path_parser.hpp"

#include <doctest/doctest.h>

using namespace postroom::smtp;
using postroom::Address;

TEST_CASE("path parser: MAIL FROM with a plain path and no parameters") {
  auto m = parse_mail("FROM:<Alice@Example.TEST>");
  REQUIRE(m);
  REQUIRE(m->reverse_path);
  CHECK(m->reverse_path->str() == "alice@example.test");
  CHECK_FALSE(m->size);
  CHECK(m->body == BodyType::seven_bit);
  CHECK_FALSE(m->smtputf8);
}

TEST_CASE("path parser: the null reverse-path <> is accepted for bounces") {
  auto m = parse_mail("FROM:<>");
  REQUIRE(m);
  CHECK_FALSE(m->reverse_path);
}

TEST_CASE(
    "path parser: verb keywords are case-insensitive and a space after the colon is tolerated") {
  CHECK(parse_mail("from:<a@b.test>"));
  CHECK(parse_mail("FROM: <a@b.test>"));
  CHECK(parse_rcpt("to: <a@b.test>"));
}

TEST_CASE("path parser: SIZE, BODY, SMTPUTF8 and AUTH parameters") {
  auto m = parse_mail("FROM:<a@b.test> SIZE=12345 BODY=8BITMIME SMTPUTF8 AUTH=<>");
  REQUIRE(m);
  CHECK(*m->size == 12345);
  CHECK(m->body == BodyType::eight_bit_mime);
  CHECK(m->smtputf8);
  auto lower = parse_mail("FROM:<a@b.test> size=1 body=7bit");
  REQUIRE(lower);
  CHECK(lower->body == BodyType::seven_bit);
}

TEST_CASE("path parser: a SIZE too large for 64 bits reads as the maximum, not as an error") {
  auto m = parse_mail("FROM:<a@b.test> SIZE=99999999999999999999");
  REQUIRE(m);
  CHECK(*m->size == UINT64_MAX);
}

TEST_CASE("path parser: bad MAIL syntax gets 501 with the right enhanced code") {
  struct Case {
    const char* args;
    int code;
    const char* enhanced;
  };
  for (Case c :
       {Case{"", 501, "5.5.4"}, Case{"FROM:a@b.test", 501, "5.5.4"},
        Case{"FROM:<a@b.test", 501, "5.5.4"}, Case{"TO:<a@b.test>", 501, "5.5.4"},
        Case{"FROM:<a..b@b.test>", 501, "5.1.7"}, Case{"FROM:<nodomain>", 501, "5.1.7"},
        Case{"FROM:<a@b.test> SIZE=", 501, "5.5.4"}, Case{"FROM:<a@b.test> SIZE=12x", 501, "5.5.4"},
        Case{"FROM:<a@b.test> SIZE=1 SIZE=2", 501, "5.5.4"},
        Case{"FROM:<a@b.test> SMTPUTF8=yes", 501, "5.5.4"},
        Case{"FROM:<a@b.test>SIZE=1", 501, "5.5.4"},
        Case{"FROM:<a@b.test> BODY=BINARYMIME", 555, "5.5.4"},
        Case{"FROM:<a@b.test> RET=HDRS", 555, "5.5.4"}}) {
    CAPTURE(c.args);
    auto m = parse_mail(c.args);
    REQUIRE_FALSE(m);
    CHECK(m.error().code == c.code);
    CHECK(m.error().enhanced == c.enhanced);
  }
}

TEST_CASE("path parser: <Postmaster> without a domain is the local postmaster (RFC 5321 4.1.1.3)") {
  for (const char* args : {"TO:<postmaster>", "TO:<PostMaster>"}) {
    auto r = parse_rcpt(args);
    REQUIRE(r);
    CHECK(r->forward_path == Address{"postmaster", ""});
  }
}

TEST_CASE(
    "path parser: a source route is dropped and the mailbox kept (RFC 5321 4.1.2, appendix C)") {
  auto r = parse_rcpt("TO:<@relay1.test,@[192.0.2.1]:u@example.test>");
  REQUIRE(r);
  CHECK(r->forward_path == Address{"u", "example.test"});
  CHECK_FALSE(parse_rcpt("TO:<@relay1.test:>"));
  CHECK_FALSE(parse_rcpt("TO:<@bad_domain:u@example.test>"));
  CHECK_FALSE(parse_rcpt("TO:<@a.test;u@example.test>"));
}

TEST_CASE("path parser: relay tricks stay local parts of the local domain") {
  auto percent = parse_rcpt("TO:<u%remote.test@example.test>");
  REQUIRE(percent);
  CHECK(percent->forward_path == Address{"u%remote.test", "example.test"});
  auto bang = parse_rcpt("TO:<remote.test!u@example.test>");
  REQUIRE(bang);
  CHECK(bang->forward_path == Address{"remote.test!u", "example.test"});
  auto quoted = parse_rcpt("TO:<\"u@remote.test\"@example.test>");
  REQUIRE(quoted);
  CHECK(quoted->forward_path == Address{"u@remote.test", "example.test"});
  auto angle = parse_rcpt("TO:<\"a>b\"@example.test>");
  REQUIRE(angle);
  CHECK(angle->forward_path == Address{"a>b", "example.test"});
}

TEST_CASE("path parser: address literals are accepted as domains") {
  auto r = parse_rcpt("TO:<u@[192.0.2.1]>");
  REQUIRE(r);
  CHECK(r->forward_path.domain == "[192.0.2.1]");
}

TEST_CASE("path parser: RCPT refuses <> and bad addresses with 5.1.3, parameters with 555") {
  auto empty = parse_rcpt("TO:<>");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().enhanced == "5.1.3");
  auto bad = parse_rcpt("TO:<a b@example.test>");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == 501);
  auto dsn = parse_rcpt("TO:<a@example.test> NOTIFY=NEVER");
  REQUIRE_FALSE(dsn);
  CHECK(dsn.error().code == 555);
  CHECK_FALSE(parse_rcpt("FROM:<a@example.test>"));
  CHECK_FALSE(parse_rcpt("TO:a@example.test"));
}

TEST_CASE("path parser: is_ascii spots UTF-8 in either part of an address") {
  CHECK(is_ascii(Address{"a", "b.test"}));
  CHECK_FALSE(is_ascii(Address{"\xc3\xa9", "b.test"}));
  CHECK_FALSE(is_ascii(Address{"a", "\xc3\xa9.test"}));
}
