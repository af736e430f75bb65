#include "postroom/auth/limiter.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace postroom::auth;
using namespace std::chrono;

namespace {

const auto t0 = Limiter::Clock::time_point() + hours(1);

std::uint64_t wrong(int n) {
  return secret_digest("wrong password " + std::to_string(n));
}

LimiterPolicy small_policy() {
  LimiterPolicy policy;
  policy.lockout_failures = 3;
  policy.address_lockout_failures = 10;
  return policy;
}

}  // namespace

TEST_CASE("limiter: delays double per distinct failure up to the maximum, per address and user") {
  Limiter limiter(LimiterPolicy{});
  CHECK(limiter.delay("10.0.0.1", "alice", t0) == milliseconds(0));
  limiter.record_failure("10.0.0.1", "alice", wrong(1), t0);
  CHECK(limiter.delay("10.0.0.1", "alice", t0) == seconds(1));
  limiter.record_failure("10.0.0.1", "alice", wrong(2), t0);
  CHECK(limiter.delay("10.0.0.1", "alice", t0) == seconds(2));
  for (int i = 3; i < 10; ++i) limiter.record_failure("10.0.0.1", "alice", wrong(i), t0);
  CHECK(limiter.delay("10.0.0.1", "alice", t0) == seconds(15));
  CHECK(limiter.delay("10.0.0.2", "alice", t0) == milliseconds(0));  // other addresses
  CHECK(limiter.delay("10.0.0.1", "bob", t0) == milliseconds(0));    // other users
  limiter.record_success("10.0.0.1", "alice", t0);
  CHECK(limiter.delay("10.0.0.1", "alice", t0) == milliseconds(0));
}

TEST_CASE("limiter: the next attempt of the same user waits for the delay after a failure") {
  Limiter limiter(LimiterPolicy{});
  CHECK(limiter.not_before("a", "alice", t0) == t0);
  limiter.record_failure("a", "alice", wrong(1), t0);
  limiter.record_failure("a", "alice", wrong(2), t0);
  CHECK(limiter.not_before("a", "alice", t0 + milliseconds(500)) == t0 + seconds(2));
  CHECK(limiter.not_before("a", "alice", t0 + seconds(3)) == t0 + seconds(3));
  CHECK(limiter.not_before("a", "bob", t0) == t0);
}

TEST_CASE("limiter: distinct wrong passwords lock that user out at that address only") {
  Limiter limiter(small_policy());
  CHECK(limiter.record_failure("a", "alice", wrong(1), t0) == Limiter::Lockout::none);
  CHECK(limiter.record_failure("a", "alice", wrong(2), t0 + seconds(1)) == Limiter::Lockout::none);
  CHECK_FALSE(limiter.locked_out("a", "alice", t0 + seconds(1)));
  CHECK(limiter.record_failure("a", "alice", wrong(3), t0 + seconds(2)) == Limiter::Lockout::user);
  CHECK(limiter.locked_out("a", "alice", t0 + seconds(3)));
  CHECK_FALSE(limiter.locked_out("a", "bob", t0 + seconds(3)));    // a colleague behind the NAT
  CHECK_FALSE(limiter.locked_out("b", "alice", t0 + seconds(3)));  // alice elsewhere
  CHECK(limiter.locked_out("a", "alice", t0 + minutes(14)));
  CHECK_FALSE(limiter.locked_out("a", "alice", t0 + minutes(16)));
}

TEST_CASE("limiter: repeating the same wrong password never escalates") {
  Limiter limiter(small_policy());
  for (int i = 0; i < 100; ++i) {
    CHECK(limiter.record_failure("nat", "bob", secret_digest("old password"), t0 + seconds(i)) ==
          Limiter::Lockout::none);
  }
  CHECK_FALSE(limiter.locked_out("nat", "bob", t0 + seconds(100)));
  CHECK(limiter.delay("nat", "bob", t0 + seconds(100)) == seconds(1));
  // The repeats are still paced: the next verification waits a second after the last one.
  CHECK(limiter.not_before("nat", "bob", t0 + seconds(99)) == t0 + seconds(100));
}

TEST_CASE("limiter: spraying many users from one address hits the address cap") {
  Limiter limiter(small_policy());
  limiter.record_success("a", "carol", t0);  // carol logs in from here every day
  Limiter::Lockout last = Limiter::Lockout::none;
  for (int i = 0; i < 10; ++i)
    last = limiter.record_failure("a", "user" + std::to_string(i), wrong(i), t0 + seconds(i));
  CHECK(last == Limiter::Lockout::address);
  CHECK(limiter.locked_out("a", "dave", t0 + seconds(11)));
  CHECK(limiter.locked_out("a", "user0", t0 + seconds(11)));
  CHECK_FALSE(limiter.locked_out("a", "carol", t0 + seconds(11)));  // logged in from here
  CHECK_FALSE(limiter.locked_out("b", "dave", t0 + seconds(11)));
  // Repeats do not count toward the address cap either.
  Limiter again(small_policy());
  for (int i = 0; i < 50; ++i)
    CHECK(again.record_failure("a", "user" + std::to_string(i % 5), wrong(i % 5), t0) !=
          Limiter::Lockout::address);
}

TEST_CASE("limiter: a user who logged in from an address recently is never locked out there") {
  Limiter limiter(small_policy());
  limiter.record_success("nat", "bob", t0);
  for (int i = 0; i < 5; ++i)
    CHECK(limiter.record_failure("nat", "bob", wrong(i), t0 + minutes(1)) ==
          Limiter::Lockout::none);
  CHECK_FALSE(limiter.locked_out("nat", "bob", t0 + minutes(1)));
  CHECK(limiter.delay("nat", "bob", t0 + minutes(1)) > seconds(1));  // still slowed down
  // A day later the memory of that login has gone.
  auto later = t0 + hours(25);
  for (int i = 10; i < 13; ++i) limiter.record_failure("nat", "bob", wrong(i), later);
  CHECK(limiter.locked_out("nat", "bob", later));
}

TEST_CASE("limiter: a success clears the pair's count but not the address's") {
  Limiter limiter(small_policy());
  for (int i = 0; i < 2; ++i) limiter.record_failure("a", "alice", wrong(i), t0);
  limiter.record_success("a", "alice", t0);
  CHECK(limiter.delay("a", "alice", t0) == milliseconds(0));
  // Eight more distinct failures from the address (10 in all) reach the address cap.
  Limiter::Lockout last = Limiter::Lockout::none;
  for (int i = 0; i < 8; ++i) last = limiter.record_failure("a", "x" + std::to_string(i), 1, t0);
  CHECK(last == Limiter::Lockout::address);
}

TEST_CASE("limiter: failures outside the window start a fresh count, old entries expire") {
  Limiter limiter(small_policy());
  limiter.record_failure("a", "alice", wrong(1), t0);
  limiter.record_failure("a", "alice", wrong(2), t0 + seconds(1));
  CHECK(limiter.record_failure("a", "alice", wrong(3), t0 + minutes(20)) == Limiter::Lockout::none);
  CHECK_FALSE(limiter.locked_out("a", "alice", t0 + minutes(20)));
  CHECK(limiter.delay("a", "alice", t0 + minutes(20)) == seconds(1));
  // The same password as before the window counts as new again.
  CHECK(limiter.record_failure("a", "alice", wrong(1), t0 + minutes(21)) == Limiter::Lockout::none);
  CHECK(limiter.delay("a", "alice", t0 + minutes(21)) == seconds(2));
  limiter.delay("zzz", "nobody", t0 + hours(2));  // sweeps
  CHECK(limiter.tracked() == 0);
}

TEST_CASE("limiter: remembered successes expire too") {
  Limiter limiter(small_policy());
  limiter.record_success("a", "alice", t0);
  limiter.delay("zzz", "nobody", t0 + hours(1));
  CHECK(limiter.tracked() == 1);
  limiter.delay("zzz", "nobody", t0 + hours(25));
  CHECK(limiter.tracked() == 0);
}

TEST_CASE("limiter: the password digest is keyed, stable within the process, and short") {
  CHECK(secret_digest("same") == secret_digest("same"));
  CHECK(secret_digest("same") != secret_digest("Same"));
  CHECK(secret_digest("") != secret_digest("x"));
}
