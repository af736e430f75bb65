// Failure counting per (address, user) and per address, with doubling delays and lockouts.
#include "postroom/auth/limiter.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace postroom::auth {

namespace {

// More distinct wrong secrets than this in one window all count as new ones: the list
// stays small whatever a guesser sends, and the lockout has long begun by then.
constexpr std::size_t kMaxDigests = 64;

bool expired(const auto& count, std::chrono::seconds window, Limiter::Clock::time_point now) {
  return count.failures == 0 || now - count.window_start >= window;
}

}  // namespace

std::string Limiter::pair_key(const std::string& address, const std::string& user) {
  // NUL cannot occur in an address key; a login name is compared whole after it.
  std::string key = address;
  key.push_back('\0');
  key += user;
  return key;
}

bool Limiter::remembered(const Pair& pair, Clock::time_point now) const {
  return pair.succeeded && now - pair.last_success < policy_.remember_success;
}

void Limiter::expire(Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds(60)) return;
  last_sweep_ = now;
  std::erase_if(pairs_, [&](const auto& item) {
    const Pair& p = item.second;
    return now >= p.count.locked_until && expired(p.count, policy_.window, now) &&
           !remembered(p, now);
  });
  std::erase_if(addresses_, [&](const auto& item) {
    return now >= item.second.locked_until && expired(item.second, policy_.window, now);
  });
}

std::chrono::milliseconds Limiter::delay(const std::string& address, const std::string& user,
                                         Clock::time_point now) {
  expire(now);
  using std::chrono::milliseconds;
  auto it = pairs_.find(pair_key(address, user));
  if (it == pairs_.end() || expired(it->second.count, policy_.window, now)) return milliseconds(0);
  auto max = std::chrono::duration_cast<milliseconds>(policy_.max_delay);
  auto delay = std::chrono::duration_cast<milliseconds>(policy_.first_delay);
  for (unsigned i = 1; i < it->second.count.failures && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

Limiter::Clock::time_point Limiter::not_before(const std::string& address, const std::string& user,
                                               Clock::time_point now) {
  auto wait = delay(address, user, now);
  if (wait.count() == 0) return now;
  return std::max(now, pairs_.find(pair_key(address, user))->second.last_failure + wait);
}

bool Limiter::locked_out(const std::string& address, const std::string& user,
                         Clock::time_point now) {
  auto pair = pairs_.find(pair_key(address, user));
  if (pair != pairs_.end() && now < pair->second.count.locked_until) return true;
  auto whole = addresses_.find(address);
  if (whole == addresses_.end() || now >= whole->second.locked_until) return false;
  return pair == pairs_.end() || !remembered(pair->second, now);
}

bool Limiter::suspect(const std::string& address, Clock::time_point now) const {
  auto it = addresses_.find(address);
  return it != addresses_.end() &&
         (now < it->second.locked_until || !expired(it->second, policy_.window, now));
}

Limiter::Lockout Limiter::record_failure(const std::string& address, const std::string& user,
                                         std::uint64_t digest, Clock::time_point now) {
  expire(now);
  Pair& pair = pairs_[pair_key(address, user)];
  if (expired(pair.count, policy_.window, now)) {
    pair.count.failures = 0;
    pair.count.window_start = now;
    pair.digests.clear();
  }
  pair.last_failure = now;  // a repeat is still paced by the delay
  if (std::find(pair.digests.begin(), pair.digests.end(), digest) != pair.digests.end())
    return Lockout::none;
  if (pair.digests.size() < kMaxDigests) pair.digests.push_back(digest);
  ++pair.count.failures;

  Count& whole = addresses_[address];
  if (expired(whole, policy_.window, now)) {
    whole.failures = 0;
    whole.window_start = now;
  }
  ++whole.failures;

  if (whole.failures >= policy_.address_lockout_failures && now >= whole.locked_until) {
    whole.locked_until = now + policy_.lockout;
    return Lockout::address;
  }
  if (pair.count.failures >= policy_.lockout_failures && now >= pair.count.locked_until &&
      !remembered(pair, now)) {
    pair.count.locked_until = now + policy_.lockout;
    return Lockout::user;
  }
  return Lockout::none;
}

void Limiter::record_success(const std::string& address, const std::string& user,
                             Clock::time_point now) {
  Pair& pair = pairs_[pair_key(address, user)];
  pair.count = {};
  pair.digests.clear();
  pair.succeeded = true;
  pair.last_success = now;
}

std::uint64_t secret_digest(std::string_view secret) {
  // One random key per process: the digests mean nothing outside it, and a digest kept in
  // memory cannot be tested against a dictionary without the key.
  static const auto key = [] {
    std::array<unsigned char, crypto_shorthash_KEYBYTES> k{};
    if (sodium_init() < 0) return k;  // libsodium unusable: password checks fail anyway
    randombytes_buf(k.data(), k.size());
    return k;
  }();
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   key.data());
  std::uint64_t digest = 0;
  std::memcpy(&digest, out, sizeof digest);
  return digest;
}

}  // namespace postroom::auth
