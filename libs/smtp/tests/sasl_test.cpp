#include "sasl.hpp"

#include <doctest/doctest.h>

using namespace postroom::smtp;

TEST_CASE("sasl: base64 round trips every length") {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    auto decoded = base64_decode(base64_encode(text));
    REQUIRE(decoded);
    CHECK(*decoded == text);
    text.push_back(static_cast<char>(i * 37));
  }
  CHECK(base64_encode("Username:") == "VXNlcm5hbWU6");
}

TEST_CASE("sasl: malformed base64 is refused, not guessed") {
  for (const char* bad :
       {"abc", "ab=c", "a===", "ab c", "ab\r\n", "====", "YWJj!A==", "YQ==YQ=="}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad));
  }
  CHECK(base64_decode("")->empty());
}

TEST_CASE("sasl: PLAIN messages split into authzid, authcid and password (RFC 4616 2)") {
  auto c = parse_plain(std::string("\0alice@example.test\0secret", 26));
  REQUIRE(c);
  CHECK(c->authzid.empty());
  CHECK(c->authcid == "alice@example.test");
  CHECK(c->password == "secret");
  auto z = parse_plain(std::string("admin\0alice\0pw", 14));
  REQUIRE(z);
  CHECK(z->authzid == "admin");
  CHECK_FALSE(parse_plain("alice secret"));
  CHECK_FALSE(parse_plain(std::string("\0alice", 6)));
  CHECK_FALSE(parse_plain(std::string("\0\0pw", 4)));
  CHECK_FALSE(parse_plain(std::string("\0a\0", 3)));
  CHECK_FALSE(parse_plain(std::string("\0a\0b\0c", 6)));
}

TEST_CASE("sasl: wipe clears a secret") {
  std::string s = "hunter2";
  wipe(s);
  CHECK(s.empty());
}
