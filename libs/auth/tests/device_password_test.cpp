// Device passwords: their shape, their selector, and that they are not guessable patterns.
#include "postroom/auth/device_password.hpp"

#include <doctest/doctest.h>

#include <set>

#include "postroom/auth/password.hpp"

using namespace postroom::auth;

TEST_CASE("device password: generated ones have the shape, differ, and verify once hashed") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto p = generate_device_password();
    REQUIRE(p);
    CHECK(p->password.size() == kDevicePasswordLength);
    CHECK(p->selector == p->password.substr(0, 4));
    auto canonical = canonical_device_password(p->password);
    REQUIRE(canonical);
    CHECK(*canonical == p->password);
    CHECK(device_selector(*canonical) == p->selector);
    seen.insert(p->password);
  }
  CHECK(seen.size() == 200);
  auto p = generate_device_password();
  REQUIRE(p);
  auto hash = hash_password(p->password);
  REQUIRE(hash);
  CHECK(verify_password(*hash, p->password));
  // One character changed (to another: "a" would be no change for a password ending in a).
  std::string wrong = p->password;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  CHECK_FALSE(verify_password(*hash, wrong));
}

TEST_CASE("device password: the shape is recognized whatever the case, nothing else is") {
  CHECK(canonical_device_password("k7cm-xq2t-abcd-efgh-ijkm-npqr") ==
        std::optional<std::string>("k7cm-xq2t-abcd-efgh-ijkm-npqr"));
  CHECK(canonical_device_password("K7CM-XQ2T-ABCD-EFGH-IJKM-NPQR") ==
        std::optional<std::string>("k7cm-xq2t-abcd-efgh-ijkm-npqr"));
  CHECK_FALSE(canonical_device_password(""));
  CHECK_FALSE(canonical_device_password("correct horse battery staple!"));  // 29 characters
  CHECK_FALSE(canonical_device_password("k7cm-xq2t-abcd-efgh-ijkm-npq"));   // too short
  CHECK_FALSE(canonical_device_password("k7cm-xq2t-abcd-efgh-ijkm-npqrs"));
  CHECK_FALSE(canonical_device_password("k7cm_xq2t-abcd-efgh-ijkm-npqr"));  // not a dash
  CHECK_FALSE(canonical_device_password("k7cm-xq2t-abcd-efgh-ijkm-npq0"));  // 0 is not used
  CHECK_FALSE(canonical_device_password("l7cm-xq2t-abcd-efgh-ijkm-npqr"));  // nor l
}
