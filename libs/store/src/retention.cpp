// Retention settings (schema 0010), the first-download marks and the purge of expired mail.
#include "postroom/store/retention.hpp"

#include <algorithm>

#include "sql_try.hpp"

namespace postroom::store {

namespace {

constexpr std::int64_t kDay = 86400;

// A row's field over what the level below says: unset inherits, kNever clears.
void apply(std::optional<std::int64_t>& into, const std::optional<std::int64_t>& setting) {
  if (!setting) return;
  into = *setting == kNever ? std::nullopt : setting;
}

void apply_setting(RetentionPolicy& policy, const RetentionSetting& row) {
  apply(policy.retrieved, row.retrieved);
  apply(policy.max_age, row.max_age);
  if (row.login_delay) policy.login_delay = *row.login_delay == kNever ? 0 : *row.login_delay;
}

const RetentionSetting* find_scope(const std::vector<RetentionSetting>& settings,
                                   std::string_view scope) {
  auto it = std::find_if(settings.begin(), settings.end(),
                         [&](const RetentionSetting& s) { return s.scope == scope; });
  return it == settings.end() ? nullptr : &*it;
}

std::optional<std::int64_t> optional_column(const Statement& s, int index) {
  if (s.column_is_null(index)) return std::nullopt;
  return s.column_int(index);
}

Statement& bind_optional(Statement& s, int index, const std::optional<std::int64_t>& value) {
  return value ? s.bind(index, *value) : s.bind_null(index);
}

// The delivery times before which mail has expired under `policy` (NULL binds for a rule
// that is off: a comparison with NULL is never true).
void bind_cutoffs(Statement& s, const RetentionPolicy& policy, std::int64_t now) {
  std::optional<std::int64_t> retrieved_before, delivered_before;
  if (policy.retrieved) retrieved_before = now - *policy.retrieved;
  if (policy.max_age) delivered_before = now - *policy.max_age;
  bind_optional(s, 2, retrieved_before);
  bind_optional(s, 3, delivered_before);
}

struct AccountRow {
  std::int64_t id = 0;
  std::string address;
};

Result<std::vector<AccountRow>> live_accounts(Database& db) {
  TRY_STMT(s, db, "SELECT id, address FROM accounts WHERE deleting = 0 ORDER BY id");
  std::vector<AccountRow> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back({s->column_int(0), s->column_text(1)});
  }
  return out;
}

}  // namespace

RetentionPolicy make_policy(std::optional<Seconds> retrieved, std::optional<Seconds> max_age,
                            Seconds login_delay) {
  RetentionPolicy policy;
  if (retrieved) policy.retrieved = retrieved->count();
  if (max_age) policy.max_age = max_age->count();
  policy.login_delay = login_delay.count();
  return policy;
}

RetentionPolicy effective_policy(const RetentionPolicy& defaults,
                                 const std::vector<RetentionSetting>& settings,
                                 std::string_view address) {
  RetentionPolicy policy = defaults;
  auto at = address.rfind('@');
  if (at != std::string_view::npos) {
    if (const auto* domain = find_scope(settings, address.substr(at + 1)))
      apply_setting(policy, *domain);
  }
  if (const auto* own = find_scope(settings, address)) apply_setting(policy, *own);
  return policy;
}

std::optional<std::int64_t> expire_days(const RetentionPolicy& policy) {
  std::optional<std::int64_t> least;
  for (const auto& rule : {policy.retrieved, policy.max_age}) {
    if (rule && (!least || *rule < *least)) least = rule;
  }
  if (!least) return std::nullopt;
  return *least / kDay;
}

Result<std::vector<RetentionSetting>> load_retention_settings(Database& db) {
  TRY_STMT(s, db,
           "SELECT scope, retrieved, max_age, login_delay FROM retention_settings ORDER BY scope");
  std::vector<RetentionSetting> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back({s->column_text(0), optional_column(*s, 1), optional_column(*s, 2),
                   optional_column(*s, 3)});
  }
  return out;
}

Result<void> set_retention(Database& db, const RetentionSetting& setting) {
  // COALESCE keeps a field the command did not name.
  TRY_STMT(s, db,
           "INSERT INTO retention_settings(scope, retrieved, max_age, login_delay) "
           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(scope) DO UPDATE SET "
           "retrieved = COALESCE(?2, retrieved), max_age = COALESCE(?3, max_age), "
           "login_delay = COALESCE(?4, login_delay)");
  s->bind(1, setting.scope);
  bind_optional(*s, 2, setting.retrieved);
  bind_optional(*s, 3, setting.max_age);
  bind_optional(*s, 4, setting.login_delay);
  return s->run();
}

Result<bool> clear_retention(Database& db, const std::string& scope) {
  TRY_STMT(s, db, "DELETE FROM retention_settings WHERE scope = ?");
  s->bind(1, scope);
  TRY(s->run());
  return db.changes() > 0;
}

Result<int> mark_retrieved(Database& db, std::int64_t account_id,
                           const std::vector<std::pair<std::int64_t, std::int64_t>>& retrieved) {
  int marked = 0;
  for (const auto& [delivery, at] : retrieved) {
    TRY_STMT(s, db,
             "UPDATE deliveries SET first_retrieved_at = ? "
             "WHERE id = ? AND account_id = ? AND first_retrieved_at IS NULL");
    s->bind(1, at).bind(2, delivery).bind(3, account_id);
    TRY(s->run());
    marked += db.changes();
  }
  return marked;
}

Result<ExpiredMailboxes> accounts_with_expired_mail(Database& db, const RetentionPolicy& defaults,
                                                    std::int64_t now) {
  auto settings = load_retention_settings(db);
  if (!settings) return std::unexpected(settings.error());
  auto accounts = live_accounts(db);
  if (!accounts) return std::unexpected(accounts.error());
  ExpiredMailboxes out;
  for (const auto& account : *accounts) {
    RetentionPolicy policy = effective_policy(defaults, *settings, account.address);
    if (!policy.retrieved && !policy.max_age) continue;
    TRY_STMT(s, db,
             "SELECT 1 FROM deliveries WHERE account_id = ?1 "
             "AND (first_retrieved_at <= ?2 OR delivered_at <= ?3) LIMIT 1");
    s->bind(1, account.id);
    bind_cutoffs(*s, policy, now);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (*row) out.accounts.push_back(account.id);
  }
  return out;
}

Result<int> purge_expired(Database& db, const RetentionPolicy& defaults, std::int64_t now,
                          const std::vector<std::int64_t>& accounts, int limit) {
  auto settings = load_retention_settings(db);
  if (!settings) return std::unexpected(settings.error());
  int removed = 0;
  for (auto id : accounts) {
    if (removed >= limit) break;
    TRY_STMT(find, db, "SELECT address FROM accounts WHERE id = ? AND deleting = 0");
    find->bind(1, id);
    auto row = find->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) continue;  // deleted, or being deleted, since it was listed
    RetentionPolicy policy = effective_policy(defaults, *settings, find->column_text(0));
    if (!policy.retrieved && !policy.max_age) continue;
    // The delete trigger releases a content (and its chunks) with its last delivery.
    TRY_STMT(s, db,
             "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE account_id = ?1 "
             "AND (first_retrieved_at <= ?2 OR delivered_at <= ?3) LIMIT ?4)");
    s->bind(1, id);
    bind_cutoffs(*s, policy, now);
    s->bind(4, static_cast<std::int64_t>(limit - removed));
    TRY(s->run());
    removed += db.changes();
  }
  return removed;
}

}  // namespace postroom::store
