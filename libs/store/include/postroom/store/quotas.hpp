// Mailbox and domain quotas: the limits the admin sets, the usage the schema's triggers keep,
// the verdict at RCPT time, and the warnings that go into a mailbox as it fills.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

// A limit as the admin set it for one mailbox or domain: nullopt takes the config's default,
// 0 is "unlimited" whatever the default says.
struct QuotaSetting {
  std::optional<std::int64_t> bytes;
  std::optional<std::int64_t> messages;
};

// A limit in force: nullopt is no limit.
struct QuotaLimit {
  std::optional<std::int64_t> bytes;
  std::optional<std::int64_t> messages;
  bool any() const { return bytes || messages; }
};

// The config's defaults (quota: in postroom.yaml), for mailboxes and domains with no setting.
struct QuotaDefaults {
  QuotaLimit user;
  QuotaLimit domain;  // all of a domain's mailboxes together
};

struct Usage {
  std::int64_t messages = 0;
  std::int64_t bytes = 0;  // octets as POP3 sends them
};

// One mailbox's standing: its own usage and limit, and its domain's.
struct MailboxQuota {
  std::int64_t account = 0;
  std::string address;
  std::string domain;
  Usage usage;
  QuotaLimit limit;
  Usage domain_usage;
  QuotaLimit domain_limit;
  bool limited() const { return limit.any() || domain_limit.any(); }
};

// The setting in force: the admin's, else the default; 0 means none.
QuotaLimit effective(const QuotaSetting& setting, const QuotaLimit& fallback);

Result<QuotaSetting> account_quota(Database& db, std::int64_t account);
Result<QuotaSetting> domain_quota(Database& db, const std::string& domain);
// Replaces the setting (nullopt fields: back to the default). The account must exist.
Result<void> set_account_quota(Database& db, std::int64_t account, const QuotaSetting& setting);
Result<void> set_domain_quota(Database& db, const std::string& domain, const QuotaSetting& setting);

// A mailbox's usage, straight from the counters (no scan of its messages).
Result<Usage> mailbox_usage(Database& db, std::int64_t account);
// Every mailbox of `domain` together.
Result<Usage> domain_usage(Database& db, const std::string& domain);
// The standing of each of `accounts` (one read snapshot); accounts that are gone are left out.
Result<std::vector<MailboxQuota>> mailbox_quotas(Database& db,
                                                 const std::vector<std::int64_t>& accounts,
                                                 const QuotaDefaults& defaults);
// The mailbox limits in force, by address, for `postroom user list`.
Result<std::map<std::string, QuotaLimit>> mailbox_limits(Database& db,
                                                         const QuotaDefaults& defaults);

// What RCPT TO answers for one mailbox. Refused only when the mailbox (or its domain) is at
// or over a limit already, or, when the client declared the message's size (SIZE=, RFC
// 1870), when that size would take it over: a message of unknown size is accepted while
// there is room and may overshoot the byte limit by itself, since one reply per message at
// the end of DATA could not refuse one recipient and accept the others.
struct QuotaVerdict {
  enum class Kind {
    ok,
    full,     // 452 4.2.2: the sender retries; delivery resumes once the user deletes mail
    too_big,  // 552 5.2.2: the declared size exceeds the whole limit, no retry can fit
  } kind = Kind::ok;
  bool domain = false;  // the domain's limit, not the mailbox's own
};
QuotaVerdict check_quota(const MailboxQuota& quota, std::optional<std::uint64_t> declared_size);

// The warning level (0, 80 or 95 percent) `usage` has reached of `limit`, by whichever of
// octets and messages is fuller.
int warning_level(const Usage& usage, const QuotaLimit& limit);

// A warning about to be sent: about a mailbox (to it) or a domain (to its postmaster).
struct QuotaWarning {
  std::string subject;  // the address, or the domain
  bool domain = false;
  int level = 0;  // 80 or 95
  Usage usage;
  QuotaLimit limit;
};
// The whole message (RFC 5322, CRLF lines, no trace fields) for a warning.
using ComposeWarning = std::function<std::string(const QuotaWarning&)>;

// Inside the caller's transaction: for each of `accounts` (just delivered to), a warning for
// the mailbox and one for its domain where usage has reached 80 or 95 percent of a limit
// and no warning of that level about it went out in the last 24 hours. A warning of 95 also
// counts as one of 80. Mailbox warnings go into the mailbox, domain warnings to the
// domain's postmaster (RFC 5321 §4.5.1; `local_domains` as in postmaster.hpp), bypassing
// the quota. Returns how many were stored.
Result<int> send_quota_warnings(Database& db, const std::vector<std::int64_t>& accounts,
                                const QuotaDefaults& defaults, std::int64_t now,
                                const std::vector<std::string>& local_domains,
                                const ComposeWarning& compose);

}  // namespace postroom::store
