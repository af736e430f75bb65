// Password hashing (argon2id through libsodium) and APOP digest checks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom::auth {

// argon2id cost: 2 passes over 19 MiB (the OWASP recommendation for argon2id), about
// 25-40 ms of one core here. With at most kMaxConcurrentVerifications running at once a
// burst of logins costs at most 2 x 19 MiB of memory.
constexpr unsigned long long kArgonOpsLimit = 2;
constexpr std::size_t kArgonMemLimit = 19 * 1024 * 1024;
constexpr int kMaxConcurrentVerifications = 2;

// The encoded hash ("$argon2id$v=19$m=...") to store; never the password itself.
Result<std::string> hash_password(std::string_view password);
// True only when `password` matches `encoded_hash`. Runs in time independent of where
// the strings differ. Costs one argon2id computation: call it off the event loop.
bool verify_password(const std::string& encoded_hash, std::string_view password);
// A hash of a random password: verified against when the user does not exist, so
// unknown users cost the same time as wrong passwords.
const std::string& dummy_hash();

// APOP (RFC 1939 §7): digest = lower-case hex MD5 of timestamp followed by the secret.
bool verify_apop(std::string_view timestamp, std::string_view secret, std::string_view digest);
std::string apop_digest(std::string_view timestamp, std::string_view secret);

}  // namespace postroom::auth
