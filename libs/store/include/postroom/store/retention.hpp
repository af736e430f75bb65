// Retention: when mail leaves the server on its own (RFC 2449 EXPIRE), and how often a user
// may log in (LOGIN-DELAY); the settings per domain and user, and the purge that applies them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/base/units.hpp"
#include "postroom/store/database.hpp"

namespace postroom::store {

// The rules in force for one mailbox. Durations in seconds; nullopt: never deleted.
struct RetentionPolicy {
  std::optional<std::int64_t> retrieved;  // after the first whole download (RETR)
  std::optional<std::int64_t> max_age;    // after delivery, downloaded or not
  std::int64_t login_delay = 0;           // least time between two logins; 0: none
  bool operator==(const RetentionPolicy&) const = default;
};

// The config's retention values (unset: never) as a policy.
RetentionPolicy make_policy(std::optional<Seconds> retrieved, std::optional<Seconds> max_age,
                            Seconds login_delay);

// What a domain or address row says: each field unset (inherit), kNever/kNone, or seconds.
inline constexpr std::int64_t kNever = -1;
struct RetentionSetting {
  std::string scope;  // lower-case domain, or full address
  std::optional<std::int64_t> retrieved;
  std::optional<std::int64_t> max_age;
  std::optional<std::int64_t> login_delay;
};

// The policy for `address` (lower-case): its own row over its domain's over `defaults`,
// field by field. `settings` is everything load_retention_settings returned.
RetentionPolicy effective_policy(const RetentionPolicy& defaults,
                                 const std::vector<RetentionSetting>& settings,
                                 std::string_view address);

// RFC 2449 §6.7: the least whole days a message stays after it was retrieved, counted from
// delivery where max_age is the tighter rule (the RFC leaves the start of the count to the
// server); nullopt when nothing is ever deleted (EXPIRE NEVER). Rounded down, so the server
// never deletes sooner than announced.
std::optional<std::int64_t> expire_days(const RetentionPolicy& policy);

Result<std::vector<RetentionSetting>> load_retention_settings(Database& db);
// Merges the fields `setting` has into the scope's row (creating it); unset fields keep
// their current value.
Result<void> set_retention(Database& db, const RetentionSetting& setting);
// Removes the scope's row; false when there was none.
Result<bool> clear_retention(Database& db, const std::string& scope);

// Records the first whole download of an account's deliveries, each with its time; a
// delivery already marked (or gone) is left alone. Returns how many were marked.
Result<int> mark_retrieved(Database& db, std::int64_t account_id,
                           const std::vector<std::pair<std::int64_t, std::int64_t>>& retrieved);

// The accounts holding mail that has expired at `now` (a read: what to lock before purging).
struct ExpiredMailboxes {
  std::vector<std::int64_t> accounts;
};
Result<ExpiredMailboxes> accounts_with_expired_mail(Database& db, const RetentionPolicy& defaults,
                                                    std::int64_t now);
// Deletes up to `limit` expired deliveries of `accounts` (their chunks go with the last
// delivery that holds them), deciding again inside the write: run in one writer job, while
// the caller holds those accounts' maildrop locks, and again while it returns `limit` (a
// mailbox of years takes several short jobs rather than one that holds up every commit).
// Accounts being deleted are skipped. Returns how many deliveries went.
Result<int> purge_expired(Database& db, const RetentionPolicy& defaults, std::int64_t now,
                          const std::vector<std::int64_t>& accounts, int limit);

}  // namespace postroom::store
