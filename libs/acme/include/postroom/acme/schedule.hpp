// When to ask for a certificate: renewal two thirds into the lifetime, and backoff after
// failures (Let's Encrypt's integration guide asks for both). Pure functions of the facts.
#pragma once

#include <cstdint>
#include <optional>

#include "postroom/acme/crypto.hpp"

namespace postroom::acme {

// The first retry comes after this long, then the pause doubles up to kMaxRetryDelay.
constexpr std::int64_t kFirstRetryDelay = 60;
constexpr std::int64_t kMaxRetryDelay = 6 * 3600;

// Two thirds of the way from notBefore to notAfter.
std::int64_t renew_at(const Validity& validity);

// The pause after `failures` consecutive failed attempts (1 or more). While a certificate
// is still valid the pause is also at most a quarter of its time left, so a short-lived
// certificate is retried several times before it expires.
std::int64_t retry_delay(int failures, std::optional<std::int64_t> seconds_left = std::nullopt);

struct RenewalFacts {
  std::optional<Validity> current;  // the certificate in use, if it came from ACME
  bool names_changed = false;       // it does not cover every configured name
  int failures = 0;                 // consecutive failed attempts
  std::int64_t last_failure = 0;    // when the last one ended
};

// When the next attempt is due (unix seconds; at or before `now` means now).
std::int64_t next_attempt(const RenewalFacts& facts, std::int64_t now);

}  // namespace postroom::acme
