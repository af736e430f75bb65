// Per-address failure counting with doubling delays and a time-boxed lockout.
#include "postroom/auth/limiter.hpp"

#include <algorithm>

namespace postroom::auth {

void Limiter::expire(Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds(60)) return;
  last_sweep_ = now;
  std::erase_if(entries_, [&](const auto& item) {
    const Entry& e = item.second;
    return now >= e.locked_until && now - e.window_start >= policy_.window;
  });
}

std::chrono::milliseconds Limiter::delay(const std::string& address, Clock::time_point now) {
  expire(now);
  auto it = entries_.find(address);
  if (it == entries_.end() || it->second.failures == 0) return std::chrono::milliseconds(0);
  if (now - it->second.window_start >= policy_.window) return std::chrono::milliseconds(0);
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(policy_.first_delay);
  for (unsigned i = 1; i < it->second.failures && delay < policy_.max_delay; ++i) delay *= 2;
  return std::min(delay, std::chrono::duration_cast<std::chrono::milliseconds>(policy_.max_delay));
}

bool Limiter::locked_out(const std::string& address, Clock::time_point now) {
  auto it = entries_.find(address);
  return it != entries_.end() && now < it->second.locked_until;
}

bool Limiter::record_failure(const std::string& address, Clock::time_point now) {
  Entry& e = entries_[address];
  if (e.failures == 0 || now - e.window_start >= policy_.window) {
    e.failures = 0;
    e.window_start = now;
  }
  ++e.failures;
  if (e.failures >= policy_.lockout_failures && now >= e.locked_until) {
    e.locked_until = now + policy_.lockout;
    return true;
  }
  return false;
}

void Limiter::record_success(const std::string& address) { entries_.erase(address); }

}  // namespace postroom::auth
