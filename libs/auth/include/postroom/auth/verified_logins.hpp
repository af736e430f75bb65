// Passwords that passed argon2id lately, remembered so the same client logging in again (a
// mail program that polls every few minutes, a PC sending ten messages one connection each)
// costs a keyed hash instead of another argon2id run of 19 MiB and ~30 ms of CPU.
//
// What is kept: per stored hash (an account's or a device's argon2id string, so a changed
// password finds nothing), a BLAKE2b digest of the password under a key drawn at random
// when the daemon starts and never written anywhere, with the time it expires. No password
// is kept. A wrong password never matches, so it still costs the full argon2id check: this
// makes no guess cheaper for anyone who does not already know the password. The weakness is
// memory: whoever can read the daemon's memory could test guesses against a digest at
// BLAKE2b speed (but could read passwords from the sessions in flight there as well).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postroom::auth {

class VerifiedLogins {
 public:
  using Clock = std::chrono::steady_clock;
  using Digest = std::array<unsigned char, 32>;

  // At most `capacity` entries (the oldest verification leaves first when full).
  explicit VerifiedLogins(std::size_t capacity = 10'000);

  // The password's digest under this process's key. Safe on any thread (the key never
  // changes after construction), so a pool thread computes it while it has the password.
  Digest digest(std::string_view password) const;

  // True when `password` passed against `stored_hash` and that was less than `ttl` ago.
  bool matches(const std::string& stored_hash, std::string_view password, Clock::time_point now,
               Clock::duration ttl) const;
  // Remembers a password that just passed argon2id against `stored_hash`.
  void remember(const std::string& stored_hash, const Digest& digest, Clock::time_point now);
  void clear() { entries_.clear(); }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Digest digest;
    Clock::time_point verified_at;
  };
  std::array<unsigned char, 32> key_;
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace postroom::auth
