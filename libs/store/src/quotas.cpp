// Quotas in SQLite: settings, usage from the trigger-kept counters, verdicts and warnings.
#include "postroom/store/quotas.hpp"

#include <algorithm>

#include "postroom/base/address.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/postmaster.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

constexpr std::int64_t kWarningInterval = 86400;  // at most one warning per level a day

std::optional<std::int64_t> optional_int(const Statement& s, int column) {
  if (s.column_is_null(column)) return std::nullopt;
  return s.column_int(column);
}

void bind_optional(Statement& s, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    s.bind(index, *value);
  } else {
    s.bind_null(index);
  }
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

Result<QuotaSetting> read_setting(Database& db, const char* sql, auto key) {
  TRY_STMT(s, db, sql);
  s->bind(1, key);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return QuotaSetting{};
  return QuotaSetting{optional_int(*s, 0), optional_int(*s, 1)};
}

// usage / limit >= level / 100, in integers (no rounding at the edge).
bool reached(std::int64_t used, const std::optional<std::int64_t>& limit, int level) {
  return limit && *limit > 0 && used * 100 >= *limit * level;
}

// A warning of `level` (or a higher one) about `subject` went out within the interval.
Result<bool> warned_recently(Database& db, const std::string& subject, int level,
                             std::int64_t now) {
  TRY_STMT(s, db, "SELECT 1 FROM quota_warnings WHERE subject = ? AND level >= ? AND sent_at > ?");
  s->bind(1, subject).bind(2, static_cast<std::int64_t>(level)).bind(3, now - kWarningInterval);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return *row;
}

Result<void> record_warning(Database& db, const std::string& subject, int level, std::int64_t now) {
  // A 95 warning says all an 80 one would: it counts for both.
  for (int each : {80, 95}) {
    if (each > level) continue;
    TRY_STMT(s, db,
             "INSERT INTO quota_warnings(subject, level, sent_at) VALUES (?, ?, ?)"
             " ON CONFLICT(subject, level) DO UPDATE SET sent_at = excluded.sent_at");
    s->bind(1, subject).bind(2, static_cast<std::int64_t>(each)).bind(3, now);
    TRY(s->run());
  }
  return {};
}

Result<void> store_warning(Database& db, const std::string& message,
                           const Destination& destination) {
  auto stored = store_from_null_sender(db, message, destination);
  if (!stored) return std::unexpected(stored.error());
  return {};
}

// Sends the warning `warning` describes to `destination` when it is due; true when sent.
Result<bool> warn_if_due(Database& db, QuotaWarning warning, const Destination& destination,
                         std::int64_t now, const ComposeWarning& compose) {
  warning.level = warning_level(warning.usage, warning.limit);
  if (warning.level == 0) return false;
  auto recent = warned_recently(db, warning.subject, warning.level, now);
  if (!recent) return std::unexpected(recent.error());
  if (*recent) return false;
  TRY(store_warning(db, compose(warning), destination));
  TRY(record_warning(db, warning.subject, warning.level, now));
  return true;
}

}  // namespace

QuotaLimit effective(const QuotaSetting& setting, const QuotaLimit& fallback) {
  auto pick = [](const std::optional<std::int64_t>& set, const std::optional<std::int64_t>& dflt) {
    std::optional<std::int64_t> value = set ? set : dflt;
    if (value && *value <= 0) value.reset();  // 0: unlimited
    return value;
  };
  return {pick(setting.bytes, fallback.bytes), pick(setting.messages, fallback.messages)};
}

Result<QuotaSetting> account_quota(Database& db, std::int64_t account) {
  return read_setting(db, "SELECT max_bytes, max_messages FROM account_quotas WHERE account_id = ?",
                      account);
}

Result<QuotaSetting> domain_quota(Database& db, const std::string& domain) {
  return read_setting(db, "SELECT max_bytes, max_messages FROM domain_quotas WHERE domain = ?",
                      std::string_view(domain));
}

Result<void> set_account_quota(Database& db, std::int64_t account, const QuotaSetting& setting) {
  if (!setting.bytes && !setting.messages) {
    TRY_STMT(s, db, "DELETE FROM account_quotas WHERE account_id = ?");
    s->bind(1, account);
    return s->run();
  }
  TRY_STMT(s, db,
           "INSERT INTO account_quotas(account_id, max_bytes, max_messages) VALUES (?, ?, ?)"
           " ON CONFLICT(account_id) DO UPDATE SET max_bytes = excluded.max_bytes,"
           " max_messages = excluded.max_messages");
  s->bind(1, account);
  bind_optional(*s, 2, setting.bytes);
  bind_optional(*s, 3, setting.messages);
  return s->run();
}

Result<void> set_domain_quota(Database& db, const std::string& domain,
                              const QuotaSetting& setting) {
  if (!setting.bytes && !setting.messages) {
    TRY_STMT(s, db, "DELETE FROM domain_quotas WHERE domain = ?");
    s->bind(1, domain);
    return s->run();
  }
  TRY_STMT(s, db,
           "INSERT INTO domain_quotas(domain, max_bytes, max_messages) VALUES (?, ?, ?)"
           " ON CONFLICT(domain) DO UPDATE SET max_bytes = excluded.max_bytes,"
           " max_messages = excluded.max_messages");
  s->bind(1, domain);
  bind_optional(*s, 2, setting.bytes);
  bind_optional(*s, 3, setting.messages);
  return s->run();
}

Result<Usage> mailbox_usage(Database& db, std::int64_t account) {
  TRY_STMT(s, db, "SELECT messages, bytes FROM mailbox_usage WHERE account_id = ?");
  s->bind(1, account);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Usage{};
  return Usage{s->column_int(0), s->column_int(1)};
}

Result<Usage> domain_usage(Database& db, const std::string& domain) {
  // One row per mailbox, not per message: cheap for any office. Matching the address's end
  // is exact whatever its local part holds.
  TRY_STMT(s, db,
           "SELECT coalesce(sum(u.messages), 0), coalesce(sum(u.bytes), 0) FROM mailbox_usage u"
           " JOIN accounts a ON a.id = u.account_id"
           " WHERE substr(a.address, -(length(?1) + 1)) = '@' || ?1");
  s->bind(1, domain);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return Usage{s->column_int(0), s->column_int(1)};
}

Result<std::vector<MailboxQuota>> mailbox_quotas(Database& db,
                                                 const std::vector<std::int64_t>& accounts,
                                                 const QuotaDefaults& defaults) {
  // One snapshot, so that a mailbox and its domain are counted at the same instant; the
  // caller's transaction serves when it has one (the writer's warnings job).
  auto snapshot = ReadTransaction::begin_unless_in_one(db);
  if (!snapshot) return std::unexpected(snapshot.error());
  std::vector<MailboxQuota> out;
  std::map<std::string, std::pair<Usage, QuotaLimit>> domains;
  for (auto account : accounts) {
    MailboxQuota q;
    q.account = account;
    {
      TRY_STMT(s, db, "SELECT address FROM accounts WHERE id = ?");
      s->bind(1, account);
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) continue;
      q.address = s->column_text(0);
    }
    q.domain = domain_of(q.address);
    auto usage = mailbox_usage(db, account);
    if (!usage) return std::unexpected(usage.error());
    q.usage = *usage;
    auto setting = account_quota(db, account);
    if (!setting) return std::unexpected(setting.error());
    q.limit = effective(*setting, defaults.user);
    auto known = domains.find(q.domain);
    if (known == domains.end()) {
      auto dsetting = domain_quota(db, q.domain);
      if (!dsetting) return std::unexpected(dsetting.error());
      QuotaLimit dlimit = effective(*dsetting, defaults.domain);
      Usage dusage;
      if (dlimit.any()) {  // the sum over the domain only where it matters
        auto counted = domain_usage(db, q.domain);
        if (!counted) return std::unexpected(counted.error());
        dusage = *counted;
      }
      known = domains.emplace(q.domain, std::pair{dusage, dlimit}).first;
    }
    q.domain_usage = known->second.first;
    q.domain_limit = known->second.second;
    out.push_back(std::move(q));
  }
  return out;
}

Result<std::map<std::string, QuotaLimit>> mailbox_limits(Database& db,
                                                         const QuotaDefaults& defaults) {
  TRY_STMT(s, db,
           "SELECT a.address, q.max_bytes, q.max_messages FROM accounts a"
           " LEFT JOIN account_quotas q ON q.account_id = a.id");
  std::map<std::string, QuotaLimit> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out[s->column_text(0)] =
        effective(QuotaSetting{optional_int(*s, 1), optional_int(*s, 2)}, defaults.user);
  }
}

QuotaVerdict check_quota(const MailboxQuota& quota, std::optional<std::uint64_t> declared_size) {
  auto judge = [&](const Usage& usage, const QuotaLimit& limit) {
    if (limit.messages && usage.messages >= *limit.messages) return QuotaVerdict::Kind::full;
    if (!limit.bytes) return QuotaVerdict::Kind::ok;
    if (usage.bytes >= *limit.bytes) return QuotaVerdict::Kind::full;
    if (declared_size) {
      auto size = static_cast<std::int64_t>(std::min<std::uint64_t>(*declared_size, INT64_MAX / 2));
      if (size > *limit.bytes) return QuotaVerdict::Kind::too_big;
      if (usage.bytes + size > *limit.bytes) return QuotaVerdict::Kind::full;
    }
    return QuotaVerdict::Kind::ok;
  };
  auto own = judge(quota.usage, quota.limit);
  // A message that can never fit is said so first: retrying would not help.
  auto domain = judge(quota.domain_usage, quota.domain_limit);
  if (own == QuotaVerdict::Kind::too_big) return {own, false};
  if (domain == QuotaVerdict::Kind::too_big) return {domain, true};
  if (own != QuotaVerdict::Kind::ok) return {own, false};
  if (domain != QuotaVerdict::Kind::ok) return {domain, true};
  return {};
}

int warning_level(const Usage& usage, const QuotaLimit& limit) {
  for (int level : {95, 80}) {
    if (reached(usage.bytes, limit.bytes, level) || reached(usage.messages, limit.messages, level))
      return level;
  }
  return 0;
}

Result<int> send_quota_warnings(Database& db, const std::vector<std::int64_t>& accounts,
                                const QuotaDefaults& defaults, std::int64_t now,
                                const std::vector<std::string>& local_domains,
                                const ComposeWarning& compose) {
  auto quotas = mailbox_quotas(db, accounts, defaults);
  if (!quotas) return std::unexpected(quotas.error());
  int sent = 0;
  std::vector<std::string> domains_done;
  for (const auto& q : *quotas) {
    if (q.limit.any()) {
      Destination to_mailbox;
      to_mailbox.accounts = {q.account};
      auto warned =
          warn_if_due(db, {q.address, false, 0, q.usage, q.limit}, to_mailbox, now, compose);
      if (!warned) return std::unexpected(warned.error());
      sent += *warned ? 1 : 0;
    }
    if (!q.domain_limit.any() ||
        std::find(domains_done.begin(), domains_done.end(), q.domain) != domains_done.end())
      continue;
    domains_done.push_back(q.domain);
    if (warning_level(q.domain_usage, q.domain_limit) == 0) continue;
    auto route = resolve_with_postmaster(db, Address{"postmaster", q.domain}, local_domains);
    if (!route) return std::unexpected(route.error());
    if (route->accounts.empty() && route->remote.empty()) continue;  // nobody to tell
    Destination to_postmaster = null_sender_destination(*route);
    auto warned = warn_if_due(db, {q.domain, true, 0, q.domain_usage, q.domain_limit},
                              to_postmaster, now, compose);
    if (!warned) return std::unexpected(warned.error());
    sent += *warned ? 1 : 0;
  }
  return sent;
}

}  // namespace postroom::store
