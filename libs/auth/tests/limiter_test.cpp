#include "postroom/auth/limiter.hpp"

#include <doctest/doctest.h>

using namespace postroom::auth;
using namespace std::chrono;

TEST_CASE("limiter: delays double per failure up to the maximum, per address") {
  Limiter limiter(LimiterPolicy{});
  auto t = Limiter::Clock::time_point() + hours(1);
  CHECK(limiter.delay("10.0.0.1", t) == milliseconds(0));
  limiter.record_failure("10.0.0.1", t);
  CHECK(limiter.delay("10.0.0.1", t) == seconds(1));
  limiter.record_failure("10.0.0.1", t);
  CHECK(limiter.delay("10.0.0.1", t) == seconds(2));
  for (int i = 0; i < 5; ++i) limiter.record_failure("10.0.0.1", t);
  CHECK(limiter.delay("10.0.0.1", t) == seconds(15));
  CHECK(limiter.delay("10.0.0.2", t) == milliseconds(0));  // others are not slowed
  limiter.record_success("10.0.0.1");
  CHECK(limiter.delay("10.0.0.1", t) == milliseconds(0));
}

TEST_CASE("limiter: repeated failures lock the address out for the lockout time") {
  LimiterPolicy policy;
  policy.lockout_failures = 3;
  Limiter limiter(policy);
  auto t = Limiter::Clock::time_point() + hours(1);
  CHECK_FALSE(limiter.record_failure("a", t));
  CHECK_FALSE(limiter.record_failure("a", t + seconds(1)));
  CHECK_FALSE(limiter.locked_out("a", t + seconds(1)));
  CHECK(limiter.record_failure("a", t + seconds(2)));
  CHECK(limiter.locked_out("a", t + seconds(3)));
  CHECK_FALSE(limiter.locked_out("b", t + seconds(3)));
  CHECK(limiter.locked_out("a", t + minutes(14)));
  CHECK_FALSE(limiter.locked_out("a", t + minutes(16)));
}

TEST_CASE("limiter: failures outside the window start a fresh count, old entries expire") {
  LimiterPolicy policy;
  policy.lockout_failures = 3;
  Limiter limiter(policy);
  auto t = Limiter::Clock::time_point() + hours(1);
  limiter.record_failure("a", t);
  limiter.record_failure("a", t + seconds(1));
  CHECK_FALSE(limiter.record_failure("a", t + minutes(20)));
  CHECK_FALSE(limiter.locked_out("a", t + minutes(20)));
  CHECK(limiter.delay("a", t + minutes(20)) == seconds(1));
  limiter.delay("zzz", t + hours(2));  // sweeps
  CHECK(limiter.tracked() == 0);
}
