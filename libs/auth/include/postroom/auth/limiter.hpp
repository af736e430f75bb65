// Brute-force defence per source address: growing delays, then a lockout (issue 5).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace postroom::auth {

struct LimiterPolicy {
  std::chrono::seconds first_delay{1};    // after the first failure
  std::chrono::seconds max_delay{15};     // doubling stops here
  unsigned lockout_failures = 10;         // this many failures within `window`...
  std::chrono::seconds window{15 * 60};
  std::chrono::seconds lockout{15 * 60};  // ...lock the address out this long
};

// Plain bookkeeping with the time passed in, so it is testable and has no I/O. Entries
// expire after the window, so memory is bounded by the addresses that failed recently.
class Limiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Limiter(LimiterPolicy policy) : policy_(policy) {}

  // How long to hold the answer to a login attempt from `address` (0 when it has no
  // recent failures), so other addresses are never slowed.
  std::chrono::milliseconds delay(const std::string& address, Clock::time_point now);
  // True while the address is locked out: even a correct password fails.
  bool locked_out(const std::string& address, Clock::time_point now);
  // Records a failure; returns true when this failure started a lockout.
  bool record_failure(const std::string& address, Clock::time_point now);
  void record_success(const std::string& address);
  void set_policy(LimiterPolicy policy) { policy_ = policy; }
  std::size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point window_start;
    Clock::time_point locked_until;
  };
  void expire(Clock::time_point now);

  LimiterPolicy policy_;
  std::unordered_map<std::string, Entry> entries_;
  Clock::time_point last_sweep_;
};

}  // namespace postroom::auth
