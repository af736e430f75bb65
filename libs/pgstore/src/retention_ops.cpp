// Retention on PostgreSQL: the settings, first downloads, and expired mail found and purged
// (deciding again inside the write, as store::purge_expired does).
#include "message_steps.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kRetentionSettings{
    "retention_settings",
    "SELECT scope, retrieved, max_age, login_delay FROM retention_settings ORDER BY scope"};
constexpr Statement kMarkRetrieved{
    "mark_retrieved",
    "UPDATE deliveries SET first_retrieved_at = $1"
    " WHERE id = $2 AND account_id = $3 AND first_retrieved_at IS NULL"};
constexpr Statement kLiveAccounts{
    "retention_live_accounts", "SELECT id, address FROM accounts WHERE deleting = 0 ORDER BY id"};
constexpr Statement kHasExpired{"retention_has_expired",
                                "SELECT 1 FROM deliveries WHERE account_id = $1"
                                " AND (first_retrieved_at <= $2 OR delivered_at <= $3) LIMIT 1"};
constexpr Statement kAccountAddress{"retention_account",
                                    "SELECT address FROM accounts WHERE id = $1 AND deleting = 0"};
// The delete trigger releases a content (and its chunks) with its last delivery.
constexpr Statement kPurge{
    "retention_purge",
    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE account_id = $1"
    " AND (first_retrieved_at <= $2 OR delivered_at <= $3) LIMIT $4)"};

std::optional<std::int64_t> optional_int(const Rows& r, int row, int column) {
  if (r.is_null(row, column)) return std::nullopt;
  return r.int64(row, column);
}

using Settings = std::shared_ptr<std::vector<RetentionSetting>>;

PgResult<void> read_settings(Rows& r, const Settings& out) {
  for (int i = 0; i < r.size(); ++i)
    out->push_back(
        {r.text(i, 0), optional_int(r, i, 1), optional_int(r, i, 2), optional_int(r, i, 3)});
  return {};
}

// The account, then the two cut-offs (NULL where the policy never deletes).
Params with_cutoffs(std::int64_t account, const RetentionPolicy& policy, std::int64_t now) {
  Params p;
  p.add(account);
  if (policy.retrieved) {
    p.add(now - *policy.retrieved);
  } else {
    p.add_null();
  }
  if (policy.max_age) {
    p.add(now - *policy.max_age);
  } else {
    p.add_null();
  }
  return p;
}

struct Purge {
  RetentionPolicy defaults;
  std::int64_t now = 0;
  std::vector<std::int64_t> accounts;
  int limit = 0;
  int removed = 0;
  std::vector<RetentionSetting> settings;
};

// Queues account `i`'s purge, which queues the next account's once it ran.
void purge_from(Steps& steps, const std::shared_ptr<Purge>& p, std::size_t i) {
  if (i >= p->accounts.size() || p->removed >= p->limit) return;
  auto id = p->accounts[i];
  steps.then(kAccountAddress, Params().add(id), [p, i, id](Rows& r, Steps& next) {
    // Deleted, or being deleted, since it was listed: nothing to purge.
    RetentionPolicy policy;
    if (r.size() > 0) policy = effective_policy(p->defaults, p->settings, r.text(0, 0));
    if (r.size() == 0 || (!policy.retrieved && !policy.max_age)) {
      purge_from(next, p, i + 1);
      return PgResult<void>{};
    }
    next.then(kPurge, with_cutoffs(id, policy, p->now).add(std::int64_t{p->limit - p->removed}),
              [p, i](Rows& d, Steps& after) {
                p->removed += static_cast<int>(d.affected());
                purge_from(after, p, i + 1);
                return PgResult<void>{};
              });
    return PgResult<void>{};
  });
}

}  // namespace

void PgMailStore::retention_settings(Reply<std::vector<RetentionSetting>> done) {
  auto out = std::make_shared<std::vector<RetentionSetting>>();
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(kRetentionSettings, {}, [out](Rows& r, Steps&) { return read_settings(r, out); });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::mark_retrieved(std::int64_t account,
                                 std::vector<std::pair<std::int64_t, std::int64_t>> retrieved,
                                 Reply<int> done) {
  auto marked = std::make_shared<int>(0);
  Unit unit;
  for (const auto& [delivery, at] : retrieved)
    unit.steps.then(kMarkRetrieved, Params().add(at).add(delivery).add(account),
                    [marked](Rows& r, Steps&) {
                      *marked += static_cast<int>(r.affected());
                      return PgResult<void>{};
                    });
  // After what this maildrop's sessions wrote before (a POP3 UPDATE of the same account).
  answer(*account_lanes_, account, std::move(unit), marked, std::move(done));
}

void PgMailStore::expired_mail_accounts(RetentionPolicy defaults, std::int64_t now,
                                        Reply<ExpiredMailboxes> done) {
  auto out = std::make_shared<ExpiredMailboxes>();
  auto settings = std::make_shared<std::vector<RetentionSetting>>();
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  unit.steps.then(kRetentionSettings, {},
                  [settings](Rows& r, Steps&) { return read_settings(r, settings); });
  unit.steps.then(kLiveAccounts, {}, [out, settings, defaults, now](Rows& r, Steps& next) {
    for (int i = 0; i < r.size(); ++i) {
      auto id = r.int64(i, 0);
      auto policy = effective_policy(defaults, *settings, r.text(i, 1));
      if (!policy.retrieved && !policy.max_age) continue;
      next.then(kHasExpired, with_cutoffs(id, policy, now), [out, id](Rows& e, Steps&) {
        if (e.size() > 0) out->accounts.push_back(id);
        return PgResult<void>{};
      });
    }
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::purge_expired(RetentionPolicy defaults, std::int64_t now,
                                std::vector<std::int64_t> accounts, int limit, Reply<int> done) {
  auto p = std::make_shared<Purge>();
  p->defaults = defaults;
  p->now = now;
  p->accounts = std::move(accounts);
  p->limit = limit;
  Unit unit;
  unit.steps.then(kRetentionSettings, {}, [p](Rows& r, Steps& next) {
    auto settings = std::make_shared<std::vector<RetentionSetting>>();
    read_settings(r, settings);
    p->settings = std::move(*settings);
    purge_from(next, p, 0);
    return PgResult<void>{};
  });
  ++*writes_in_flight_;
  pool_.run(std::move(unit),
            [writes = writes_in_flight_, p, done = std::move(done)](PgResult<void> r) {
              --*writes;
              if (!done) return;
              if (!r) return done(std::unexpected(to_error(r.error())));
              done(p->removed);
            });
}

}  // namespace postroom::pgstore
