#include "postroom/auth/password.hpp"

#include <doctest/doctest.h>

using namespace postroom::auth;

TEST_CASE("auth: argon2id hashes verify the right password only") {
  auto hash = hash_password("correct horse battery staple");
  REQUIRE(hash);
  CHECK(hash->rfind("$argon2id$", 0) == 0);
  CHECK(hash->find("correct") == std::string::npos);
  CHECK(verify_password(*hash, "correct horse battery staple"));
  CHECK_FALSE(verify_password(*hash, "correct horse battery stapl"));
  CHECK_FALSE(verify_password(*hash, ""));
  CHECK_FALSE(verify_password("not a hash", "x"));
  auto again = hash_password("correct horse battery staple");
  CHECK(*again != *hash);  // salted
  CHECK_FALSE(dummy_hash().empty());
}

TEST_CASE("auth: APOP digest matches RFC 1939's example") {
  // RFC 1939 §7: timestamp, secret "tanstaaf", digest c4c9334bac560ecc979e58001b3e22fb.
  const char* ts = "<1896.697170952@dbc.mtview.ca.us>";
  CHECK(apop_digest(ts, "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb");
  CHECK(verify_apop(ts, "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb"));
  CHECK(verify_apop(ts, "tanstaaf", "C4C9334BAC560ECC979E58001B3E22FB"));
  CHECK_FALSE(verify_apop(ts, "tanstaaF", "c4c9334bac560ecc979e58001b3e22fb"));
  CHECK_FALSE(verify_apop(ts, "tanstaaf", "c4c9"));
}
