// BLAKE2b (libsodium's crypto_generichash) keyed with a per-process random key.
#include "postroom/auth/verified_logins.hpp"

#include <sodium.h>

#include <algorithm>

namespace postroom::auth {

VerifiedLogins::VerifiedLogins(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)) {
  // sodium_init is idempotent and thread-safe; randombytes needs it.
  if (sodium_init() < 0) {
    // Without a random key nothing may be remembered: no entry would ever be safe to match.
    capacity_ = 0;
  }
  randombytes_buf(key_.data(), key_.size());
}

VerifiedLogins::Digest VerifiedLogins::digest(std::string_view password) const {
  Digest out{};
  crypto_generichash(out.data(), out.size(),
                     reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                     key_.data(), key_.size());
  return out;
}

bool VerifiedLogins::matches(const std::string& stored_hash, std::string_view password,
                             Clock::time_point now, Clock::duration ttl) const {
  if (ttl <= Clock::duration::zero()) return false;
  auto it = entries_.find(stored_hash);
  if (it == entries_.end()) return false;
  if (now < it->second.verified_at || now - it->second.verified_at >= ttl) return false;
  Digest given = digest(password);
  return sodium_memcmp(given.data(), it->second.digest.data(), given.size()) == 0;
}

void VerifiedLogins::remember(const std::string& stored_hash, const Digest& digest,
                              Clock::time_point now) {
  if (capacity_ == 0) return;
  auto it = entries_.find(stored_hash);
  if (it == entries_.end() && entries_.size() >= capacity_) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.verified_at < b.second.verified_at; });
    entries_.erase(oldest);
  }
  entries_[stored_hash] = Entry{digest, now};
}

}  // namespace postroom::auth
