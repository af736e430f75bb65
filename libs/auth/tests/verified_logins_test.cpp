#include "postroom/auth/verified_logins.hpp"

#include <doctest/doctest.h>

using namespace postroom::auth;
using namespace std::chrono_literals;

namespace {
const std::string kHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
}

TEST_CASE("verified logins: the right password matches within the time, nothing else does") {
  VerifiedLogins logins;
  auto t0 = VerifiedLogins::Clock::time_point{} + 1000s;
  CHECK_FALSE(logins.matches(kHash, "secret", t0, 15min));
  logins.remember(kHash, logins.digest("secret"), t0);
  CHECK(logins.matches(kHash, "secret", t0 + 1s, 15min));
  CHECK(logins.matches(kHash, "secret", t0 + 14min, 15min));
  // A wrong password, another stored hash (the password was changed) or an expired entry:
  // no match, so argon2id decides.
  CHECK_FALSE(logins.matches(kHash, "Secret", t0 + 1s, 15min));
  CHECK_FALSE(logins.matches(kHash, "secret\n", t0 + 1s, 15min));
  CHECK_FALSE(logins.matches(kHash + "x", "secret", t0 + 1s, 15min));
  CHECK_FALSE(logins.matches(kHash, "secret", t0 + 15min, 15min));
  // Turned off, or a clock gone backwards.
  CHECK_FALSE(logins.matches(kHash, "secret", t0 + 1s, 0s));
  CHECK_FALSE(logins.matches(kHash, "secret", t0 - 1s, 15min));
}

TEST_CASE("verified logins: digests are keyed per process, so two caches never agree") {
  VerifiedLogins a, b;
  CHECK(a.digest("secret") == a.digest("secret"));
  CHECK(a.digest("secret") != a.digest("secret2"));
  CHECK(a.digest("secret") != b.digest("secret"));
  auto t0 = VerifiedLogins::Clock::time_point{} + 10s;
  b.remember(kHash, a.digest("secret"), t0);
  CHECK_FALSE(b.matches(kHash, "secret", t0, 15min));
}

TEST_CASE("verified logins: when full, the oldest verification leaves first") {
  VerifiedLogins logins(2);
  auto t0 = VerifiedLogins::Clock::time_point{} + 10s;
  logins.remember("h1", logins.digest("p1"), t0);
  logins.remember("h2", logins.digest("p2"), t0 + 1s);
  logins.remember("h1", logins.digest("p1"), t0 + 2s);  // renewed: now the newest
  logins.remember("h3", logins.digest("p3"), t0 + 3s);
  CHECK(logins.size() == 2);
  CHECK(logins.matches("h1", "p1", t0 + 4s, 15min));
  CHECK_FALSE(logins.matches("h2", "p2", t0 + 4s, 15min));
  CHECK(logins.matches("h3", "p3", t0 + 4s, 15min));
}
