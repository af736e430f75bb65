// The retry schedule: immediate first attempt, intervals with the last repeating, expiry.
#include "postroom/relay/retry.hpp"

#include <doctest/doctest.h>

using namespace postroom::relay;
using namespace std::chrono_literals;

TEST_CASE("retry: first attempt now, then the schedule, the last interval repeating") {
  const std::vector<std::chrono::seconds> schedule{5min, 15min, 1h};
  const Clock::time_point queued{1'700'000'000s};
  const std::chrono::seconds max_age = 5 * 24h;

  NextAttempt first = next_attempt(0, schedule, queued, queued, max_age);
  CHECK_FALSE(first.expired);
  CHECK(first.at == queued);

  Clock::time_point now = queued + 10s;  // the first attempt took 10 s
  CHECK(next_attempt(1, schedule, queued, now, max_age).at == now + 5min);
  CHECK(next_attempt(2, schedule, queued, now, max_age).at == now + 15min);
  CHECK(next_attempt(3, schedule, queued, now, max_age).at == now + 1h);
  CHECK(next_attempt(4, schedule, queued, now, max_age).at == now + 1h);
  CHECK(next_attempt(40, schedule, queued, now, max_age).at == now + 1h);
}

TEST_CASE("retry: expired when the next attempt would fall after the maximum queue age") {
  const std::vector<std::chrono::seconds> schedule{1h};
  const Clock::time_point queued{1'700'000'000s};
  const std::chrono::seconds max_age = 5 * 24h;
  // Exactly at the deadline still counts; one second later does not.
  NextAttempt last = next_attempt(100, schedule, queued, queued + max_age - 1h, max_age);
  CHECK_FALSE(last.expired);
  CHECK(last.at == queued + max_age);
  CHECK(next_attempt(100, schedule, queued, queued + max_age - 1h + 1s, max_age).expired);

  // interface.md: any duration is valid, `max_queue_age: 6s` included.
  CHECK_FALSE(next_attempt(0, schedule, queued, queued, 6s).expired);
  CHECK(next_attempt(1, {5s}, queued, queued + 2s, 6s).expired);
  CHECK_FALSE(next_attempt(1, {3s}, queued, queued + 2s, 6s).expired);
}

TEST_CASE("retry: an empty schedule falls back to 30 minutes (RFC 5321 §4.5.4.1)") {
  const Clock::time_point queued{1'700'000'000s};
  CHECK(next_attempt(1, {}, queued, queued, 24h).at == queued + 30min);
}
