// Tests for the SASL PLAIN message as POP3 receives it (base64 itself: libs/base).
#include "sasl_plain.hpp"

#include <doctest/doctest.h>

using postroom::pop3::detail::parse_sasl_plain;

TEST_CASE("pop3 SASL PLAIN: user and password without authzid") {
  // base64("\0alice@example.test\0secret")
  auto credentials = parse_sasl_plain("AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=");
  REQUIRE(credentials);
  CHECK(credentials->authzid.empty());
  CHECK(credentials->authcid == "alice@example.test");
  CHECK(credentials->password == "secret");
}

TEST_CASE("pop3 SASL PLAIN: an authzid is returned for the caller to judge") {
  // base64("bob\0alice\0pw")
  auto credentials = parse_sasl_plain("Ym9iAGFsaWNlAHB3");
  REQUIRE(credentials);
  CHECK(credentials->authzid == "bob");
  CHECK(credentials->authcid == "alice");
  CHECK(credentials->password == "pw");
}

TEST_CASE("pop3 SASL PLAIN: malformed messages fail") {
  CHECK_FALSE(parse_sasl_plain("="));             // empty response
  CHECK_FALSE(parse_sasl_plain("YWxpY2U="));      // "alice": no NUL
  CHECK_FALSE(parse_sasl_plain("AGFsaWNl"));      // "\0alice": one NUL
  CHECK_FALSE(parse_sasl_plain("AABwdw=="));      // "\0\0pw": empty authcid
  CHECK_FALSE(parse_sasl_plain("AGFsaWNlAA=="));  // "\0alice\0": empty password
  CHECK_FALSE(parse_sasl_plain("AGEAYgBj"));      // "\0a\0b\0c": three NULs
  CHECK_FALSE(parse_sasl_plain("not base64!"));
  auto error = parse_sasl_plain("AGFsaWNlAA==");
  CHECK(error.error().message.find("alice") == std::string::npos);
}
