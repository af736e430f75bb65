// When to try a queued message next, and when to give up (RFC 5321 §4.5.4.1).
#pragma once

#include <chrono>
#include <vector>

namespace postroom::relay {

using Clock = std::chrono::system_clock;

// Used when the schedule is empty: RFC 5321 §4.5.4.1 asks for at least 30 minutes.
inline constexpr std::chrono::seconds kDefaultRetryInterval{30 * 60};

struct NextAttempt {
  // The message is too old: give up and bounce (RFC 3464) instead of retrying.
  bool expired = false;
  Clock::time_point at{};  // when to attempt next; meaningful when !expired
};

// Times are std::chrono::system_clock points (the queue stores them as unix
// seconds). `attempts_so_far` counts finished attempts; `now` is when the last
// one ended. No attempt yet: `now` (the first attempt is immediate). After
// attempt n: now + schedule[n - 1], the last interval repeating. Expired when
// that point lies after first_queued + max_queue_age.
NextAttempt next_attempt(int attempts_so_far, const std::vector<std::chrono::seconds>& schedule,
                         Clock::time_point first_queued, Clock::time_point now,
                         std::chrono::seconds max_queue_age);

}  // namespace postroom::relay
