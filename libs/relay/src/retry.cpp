// The retry schedule: the first attempt at once, then the configured intervals, the last repeating.
#include "postroom/relay/retry.hpp"

#include <algorithm>

namespace postroom::relay {

NextAttempt next_attempt(int attempts_so_far, const std::vector<std::chrono::seconds>& schedule,
                         Clock::time_point first_queued, Clock::time_point now,
                         std::chrono::seconds max_queue_age) {
  const Clock::time_point deadline = first_queued + max_queue_age;
  if (attempts_so_far <= 0) return NextAttempt{false, now};
  std::chrono::seconds interval = kDefaultRetryInterval;
  if (!schedule.empty()) {
    std::size_t index =
        std::min(static_cast<std::size_t>(attempts_so_far - 1), schedule.size() - 1);
    interval = schedule[index];
  }
  const Clock::time_point at = now + interval;
  if (at > deadline) return NextAttempt{true, {}};
  return NextAttempt{false, at};
}

}  // namespace postroom::relay
