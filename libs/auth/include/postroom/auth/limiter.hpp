// Brute-force defence: delays and lockouts per (address, user), a higher cap per address.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postroom::auth {

struct LimiterPolicy {
  std::chrono::seconds first_delay{1};  // after the first failure
  std::chrono::seconds max_delay{15};   // doubling stops here
  // This many distinct wrong passwords for one user from one address within `window`
  // lock that user out at that address for `lockout`.
  unsigned lockout_failures = 10;
  // This many distinct failures from one address, whatever the users, within `window`
  // lock the whole address out (password spraying), except users who logged in from
  // it within `remember_success`.
  unsigned address_lockout_failures = 100;
  std::chrono::seconds window{15 * 60};
  std::chrono::seconds lockout{15 * 60};
  // A user who logged in from an address this recently is never locked out there: a
  // stale device behind the office's NAT cannot shut its own office out.
  std::chrono::seconds remember_success{24 * 3600};
};

// Plain bookkeeping with the time passed in, so it is testable and has no I/O. `address`
// is the limiter's key for the source (an IPv4 address or an IPv6 /64); `user` the
// normalized login name. Failures carry a short keyed digest of the wrong secret, never
// the secret: repeating the same wrong password (a phone with an old one) does not
// escalate. Entries expire, so memory is bounded by the sources that failed recently
// and the (address, user) pairs that logged in within remember_success.
class Limiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Limiter(LimiterPolicy policy) : policy_(policy) {}

  // How long to hold the answer to a failed attempt, and how long after a failure the
  // next attempt for the same user from the same address waits before it is verified
  // (0 when there are no recent failures), so other users and addresses are not slowed.
  std::chrono::milliseconds delay(const std::string& address, const std::string& user,
                                  Clock::time_point now);
  // The earliest time an attempt for `user` from `address` may be verified.
  Clock::time_point not_before(const std::string& address, const std::string& user,
                               Clock::time_point now);
  // True while `user` is locked out at `address`: even a right password fails, and the
  // attempt is refused without computing a hash.
  bool locked_out(const std::string& address, const std::string& user, Clock::time_point now);

  // True when `address` has distinct failures within the window: its logins queue behind
  // those of addresses without (a flood of guesses must not delay the office's logins).
  bool suspect(const std::string& address, Clock::time_point now) const;

  enum class Lockout { none, user, address };
  // Records a wrong secret (`digest` from secret_digest); returns which lockout this
  // failure started, if any. A digest already seen in the window changes no count.
  Lockout record_failure(const std::string& address, const std::string& user, std::uint64_t digest,
                         Clock::time_point now);
  // Clears the pair's failures and remembers the success (the address's count stays:
  // one known password must not reset a spray's count).
  void record_success(const std::string& address, const std::string& user, Clock::time_point now);
  void set_policy(LimiterPolicy policy) { policy_ = policy; }
  std::size_t tracked() const { return pairs_.size() + addresses_.size(); }

 private:
  struct Count {
    unsigned failures = 0;
    Clock::time_point window_start;
    Clock::time_point locked_until;
  };
  struct Pair {
    Count count;
    Clock::time_point last_failure;
    std::vector<std::uint64_t> digests;  // the distinct wrong secrets of this window
    bool succeeded = false;
    Clock::time_point last_success;
  };
  static std::string pair_key(const std::string& address, const std::string& user);
  bool remembered(const Pair& pair, Clock::time_point now) const;
  void expire(Clock::time_point now);

  LimiterPolicy policy_;
  std::unordered_map<std::string, Pair> pairs_;
  std::unordered_map<std::string, Count> addresses_;
  Clock::time_point last_sweep_;
};

// A short keyed digest (SipHash-2-4 with a random key made once per process) of a secret,
// to tell a repeated wrong password from a new one without keeping the password.
std::uint64_t secret_digest(std::string_view secret);

}  // namespace postroom::auth
