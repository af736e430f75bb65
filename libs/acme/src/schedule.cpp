// Renewal timing and retry backoff (schedule.hpp).
#include "postroom/acme/schedule.hpp"

#include <algorithm>

namespace postroom::acme {

std::int64_t renew_at(const Validity& v) {
  return v.not_before + (v.not_after - v.not_before) * 2 / 3;
}

std::int64_t retry_delay(int failures, std::optional<std::int64_t> seconds_left) {
  std::int64_t delay = kFirstRetryDelay;
  for (int i = 1; i < failures && delay < kMaxRetryDelay; ++i) delay *= 2;
  delay = std::min(delay, kMaxRetryDelay);
  // A certificate about to expire is worth trying more often: at most a quarter of the
  // time left, but at least a second so a failing CA is not hammered.
  if (seconds_left && *seconds_left > 0)
    delay = std::min(delay, std::max<std::int64_t>(1, *seconds_left / 4));
  return delay;
}

std::int64_t next_attempt(const RenewalFacts& f, std::int64_t now) {
  std::int64_t due = now;
  std::optional<std::int64_t> left;
  if (f.current && !f.names_changed) {
    due = renew_at(*f.current);
    left = f.current->not_after - now;
  }
  if (f.failures > 0) due = std::max(due, f.last_failure + retry_delay(f.failures, left));
  return due;
}

}  // namespace postroom::acme
