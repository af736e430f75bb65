#include "postroom/base/address.hpp"

#include <doctest/doctest.h>

using postroom::is_ascii_domain;
using postroom::is_valid_domain;
using postroom::literal_ip;
using postroom::parse_address;

TEST_CASE("address: dot-string addresses are lower-cased") {
  auto a = parse_address("Alice.Smith@Example.TEST");
  REQUIRE(a);
  CHECK(a->local == "alice.smith");
  CHECK(a->domain == "example.test");
  CHECK(a->str() == "alice.smith@example.test");
}

TEST_CASE("address: quoted local parts are unquoted and re-quoted") {
  auto a = parse_address(R"("john \"j\" doe"@example.test)");
  REQUIRE(a);
  CHECK(a->local == R"(john "j" doe)");
  CHECK(a->str() == R"("john \"j\" doe"@example.test)");
}

TEST_CASE("address: address literals and UTF-8 are accepted") {
  CHECK(parse_address("postmaster@[192.0.2.1]"));
  CHECK(parse_address("postmaster@[IPv6:2001:db8::1]"));
  CHECK(parse_address("postmaster@[x-tag:abc]"));
  for (const char* bad : {"b@[@]", "b@[999.1.1.1]", "b@[IPv6:zz]", "b@[:x]", "b@[tag:]"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_address(bad));
  }
  CHECK(
      parse_address("\xc3\xa9l\xc3\xa8ve@\xc3\xa9"
                    "cole.test"));
}

TEST_CASE("address: malformed addresses are refused with a reason") {
  for (const char* bad : {"", "alice", "@example.test", "alice@", "a..b@example.test",
                          ".a@example.test", "a b@example.test", "alice@-bad.test",
                          "alice@exa_mple.test", "\"open@example.test", "alice@a..test"}) {
    CAPTURE(bad);
    auto a = parse_address(bad);
    CHECK_FALSE(a);
    if (!a) CHECK_FALSE(a.error().message.empty());
  }
  CHECK_FALSE(parse_address(std::string(65, 'a') + "@example.test"));
}

TEST_CASE("address: literal_ip gives the address a literal names") {
  CHECK(literal_ip("remote.test") == std::nullopt);
  CHECK(literal_ip("[192.0.2.1]") == "192.0.2.1");
  CHECK(literal_ip("[IPv6:2001:db8::1]") == "2001:db8::1");
  CHECK(literal_ip("[ipv6:::1]") == "::1");  // the tag is case-insensitive
  // No usable address: a General-address-literal, or malformed.
  for (const char* none : {"[x-tag:something]", "[192.0.2.300]", "[2001:db8::1]", "[]"}) {
    CAPTURE(none);
    CHECK(literal_ip(none) == std::nullopt);
  }
}

TEST_CASE("address: is_ascii_domain takes only RFC 5321 US-ASCII domains") {
  CHECK(is_ascii_domain("mail.example.test"));
  CHECK(is_ascii_domain("MX-1.Example.TEST"));
  CHECK(is_valid_domain("m\xc3\xa4il.example.test"));  // a U-label: fine where SMTPUTF8 is
  CHECK_FALSE(is_ascii_domain("m\xc3\xa4il.example.test"));
  for (const char* bad : {"", "-a.test", "a..test", "a_b.test", "a b.test", "a\r\n.test"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_ascii_domain(bad));
  }
}
