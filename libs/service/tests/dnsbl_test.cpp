// DNS blocklist names and the meaning of their answers.
#include <doctest/doctest.h>

#include "postroom/service/dnsbl.hpp"

using namespace postroom;
using namespace postroom::service;

TEST_CASE("dnsbl: query names reverse IPv4 octets and IPv6 nibbles (RFC 5782 §2)") {
  CHECK(dnsbl_query_name("192.0.2.99", "bl.test") == "99.2.0.192.bl.test");
  CHECK(dnsbl_query_name("::ffff:192.0.2.99", "bl.test") == "99.2.0.192.bl.test");
  CHECK(dnsbl_query_name("2001:db8:1:2:3:4:567:89ab", "bl.test") ==
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test");
  CHECK_FALSE(dnsbl_query_name("not-an-ip", "bl.test"));
  CHECK_FALSE(dnsbl_query_name("", "bl.test"));
}

TEST_CASE("dnsbl: Spamhaus's 127.255.255.x codes are refusals, never listings") {
  config::DnsblZone any{"zen.spamhaus.org", 1, {}};
  CHECK(classify_dnsbl_answer(any, "127.0.0.2") == DnsblCode::listed);
  CHECK(classify_dnsbl_answer(any, "127.0.0.11") == DnsblCode::listed);
  for (const char* code : {"127.255.255.252", "127.255.255.254", "127.255.255.255"})
    CHECK(classify_dnsbl_answer(any, code) == DnsblCode::refused);
  // A wildcarding resolver's answer outside 127/8 is not a listing.
  CHECK(classify_dnsbl_answer(any, "192.0.2.1") == DnsblCode::ignored);
}

TEST_CASE("dnsbl: a zone with codes counts only those") {
  config::DnsblZone some{"bl.test", 2, {"127.0.0.2", "127.0.0.4"}};
  CHECK(classify_dnsbl_answer(some, "127.0.0.2") == DnsblCode::listed);
  CHECK(classify_dnsbl_answer(some, "127.0.0.3") == DnsblCode::ignored);
  CHECK(classify_dnsbl_answer(some, "127.255.255.254") == DnsblCode::refused);
}

TEST_CASE("dnsbl: the score is compared with the threshold and logged") {
  DnsblResult r;
  r.score = 2;
  r.listings.push_back({"a.test", "127.0.0.2", "", 2});
  r.notes.push_back("b.test=refused");
  CHECK(r.listed(2));
  CHECK_FALSE(r.listed(3));
  CHECK(r.log_words(2) == "dnsbl=listed(score=2 a.test:127.0.0.2,b.test=refused)");
  CHECK(DnsblResult{}.log_words(1) == "dnsbl=pass(score=0)");
}
