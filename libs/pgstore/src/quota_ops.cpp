// Quotas on PostgreSQL: each mailbox's standing (usage kept by the schema's triggers), and
// the warnings due after a delivery, decided and stored in one transaction.
#include <algorithm>
#include <map>

#include "message_steps.hpp"
#include "postroom/base/address.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "postroom/store/postmaster.hpp"
#include "routing.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr std::int64_t kWarningInterval = 86400;  // at most one warning per level a day

// A mailbox's usage, its own setting and its domain's (the part after the last '@').
constexpr Statement kMailboxQuota{
    "mailbox_quota",
    "SELECT a.address, coalesce(u.messages, 0), coalesce(u.bytes, 0), q.max_bytes,"
    " q.max_messages, d.max_bytes, d.max_messages, substring(a.address from '@([^@]*)$')"
    " FROM accounts a LEFT JOIN mailbox_usage u ON u.account_id = a.id"
    " LEFT JOIN account_quotas q ON q.account_id = a.id"
    " LEFT JOIN domain_quotas d ON d.domain = substring(a.address from '@([^@]*)$')"
    " WHERE a.id = $1"};
constexpr Statement kDomainUsage{
    "domain_usage",
    "SELECT coalesce(sum(u.messages), 0)::int8, coalesce(sum(u.bytes), 0)::int8"
    " FROM mailbox_usage u JOIN accounts a ON a.id = u.account_id"
    " WHERE right(a.address, length($1) + 1) = '@' || $1"};
constexpr Statement kWarnedRecently{
    "quota_warned_recently",
    "SELECT 1 FROM quota_warnings WHERE subject = $1 AND level >= $2 AND sent_at > $3"};
constexpr Statement kRecordWarning{
    "quota_record_warning",
    "INSERT INTO quota_warnings (subject, level, sent_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (subject, level) DO UPDATE SET sent_at = excluded.sent_at"};
// Orders only: its check runs after every step queued before it.
constexpr Statement kThen{"", "SELECT 1"};

std::optional<std::int64_t> optional_int(const Rows& r, int column) {
  if (r.is_null(0, column)) return std::nullopt;
  return r.int64(0, column);
}

using Quotas = std::shared_ptr<std::vector<MailboxQuota>>;

// Queues the reads of every account's standing into `out` (as store::mailbox_quotas).
void read_quotas(Steps& steps, const std::vector<std::int64_t>& accounts, QuotaDefaults defaults,
                 const Quotas& out) {
  auto domains = std::make_shared<std::map<std::string, std::pair<Usage, QuotaLimit>>>();
  for (auto account : accounts) {
    steps.then(
        kMailboxQuota, Params().add(account),
        [out, domains, defaults, account](Rows& r, Steps& next) {
          if (r.size() == 0) return PgResult<void>{};  // the account is gone
          MailboxQuota q;
          q.account = account;
          q.address = r.text(0, 0);
          q.usage = {r.int64(0, 1), r.int64(0, 2)};
          q.limit = effective({optional_int(r, 3), optional_int(r, 4)}, defaults.user);
          q.domain = r.is_null(0, 7) ? std::string() : r.text(0, 7);
          auto slot = out->size();
          out->push_back(q);
          auto known = domains->find(q.domain);
          if (known != domains->end()) {
            (*out)[slot].domain_usage = known->second.first;
            (*out)[slot].domain_limit = known->second.second;
            return PgResult<void>{};
          }
          QuotaLimit limit = effective({optional_int(r, 5), optional_int(r, 6)}, defaults.domain);
          (*domains)[q.domain] = {Usage{}, limit};
          (*out)[slot].domain_limit = limit;
          if (!limit.any()) return PgResult<void>{};  // the sum only where it matters
          next.then(kDomainUsage, Params().add(q.domain),
                    [out, domains, slot, domain = q.domain](Rows& u, Steps&) {
                      Usage usage{u.int64(0, 0), u.int64(0, 1)};
                      (*domains)[domain].first = usage;
                      (*out)[slot].domain_usage = usage;
                      return PgResult<void>{};
                    });
          return PgResult<void>{};
        });
  }
}

// Sends `warning` to `destination` unless one of its level went out within the interval.
void warn_if_due(Steps& steps, QuotaWarning warning, store::Destination destination,
                 std::int64_t now, const ComposeWarning& compose,
                 const std::shared_ptr<int>& sent) {
  warning.level = warning_level(warning.usage, warning.limit);
  if (warning.level == 0) return;
  steps.then(
      kWarnedRecently,
      Params().add(warning.subject).add(std::int64_t{warning.level}).add(now - kWarningInterval),
      [warning, destination, now, compose, sent](Rows& r, Steps& next) {
        if (r.size() > 0) return PgResult<void>{};
        auto stored = std::make_shared<StoredMessage>();
        store_from_null_sender(next, compose(warning), destination, now, stored);
        // A 95 warning says all an 80 one would: it counts for both.
        for (int each : {80, 95})
          if (each <= warning.level)
            next.then(kRecordWarning,
                      Params().add(warning.subject).add(std::int64_t{each}).add(now));
        ++*sent;
        return PgResult<void>{};
      });
}

// The domain's postmaster as store::resolve_with_postmaster finds it: each address of the
// lookup order in turn while the route is unknown; then `then(route)` queues what follows.
void route_postmaster(Steps& steps, std::shared_ptr<std::vector<std::string>> order, std::size_t i,
                      DomainTest is_local, std::function<void(const Route&, Steps&)> then) {
  auto x = std::make_shared<Expansion>();
  x->is_local_domain = is_local;
  auto address = (*order)[i];
  if (is_local(domain_part(address))) {
    expand(x, address, 0, steps);
  } else {
    x->route.remote.push_back(address);
  }
  steps.then(kThen, {}, [x, order, i, is_local, then](Rows&, Steps& next) {
    settle(x->route);
    if (x->route.kind == Route::Kind::unknown && i + 1 < order->size()) {
      route_postmaster(next, order, i + 1, is_local, then);
    } else {
      then(x->route, next);
    }
    return PgResult<void>{};
  });
}

}  // namespace

void PgMailStore::mailbox_quotas(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                                 Reply<std::vector<MailboxQuota>> done) {
  auto out = std::make_shared<std::vector<MailboxQuota>>();
  // One snapshot: a mailbox and its domain counted at the same instant.
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  read_quotas(unit.steps, accounts, defaults, out);
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::quota_warnings(std::vector<std::int64_t> accounts, QuotaDefaults defaults,
                                 std::vector<std::string> local_domains, ComposeWarning compose,
                                 Reply<int> done) {
  auto now = unix_now();
  auto quotas = std::make_shared<std::vector<MailboxQuota>>();
  auto sent = std::make_shared<int>(0);
  Unit unit;
  read_quotas(unit.steps, accounts, defaults, quotas);
  unit.steps.then(kThen, {}, [quotas, sent, now, compose, local_domains](Rows&, Steps& next) {
    DomainTest is_local = [local_domains](std::string_view domain) {
      return std::find(local_domains.begin(), local_domains.end(), to_lower_ascii(domain)) !=
             local_domains.end();
    };
    std::vector<std::string> domains_done;
    for (const auto& q : *quotas) {
      if (q.limit.any()) {
        store::Destination to_mailbox;
        to_mailbox.accounts = {q.account};
        warn_if_due(next, {q.address, false, 0, q.usage, q.limit}, to_mailbox, now, compose, sent);
      }
      if (!q.domain_limit.any() ||
          std::find(domains_done.begin(), domains_done.end(), q.domain) != domains_done.end())
        continue;
      domains_done.push_back(q.domain);
      if (warning_level(q.domain_usage, q.domain_limit) == 0) continue;
      auto order = std::make_shared<std::vector<std::string>>(
          store::lookup_order(Address{"postmaster", q.domain}, local_domains));
      QuotaWarning warning{q.domain, true, 0, q.domain_usage, q.domain_limit};
      route_postmaster(next, order, 0, is_local,
                       [warning, now, compose, sent](const Route& route, Steps& after) {
                         if (route.accounts.empty() && route.remote.empty()) return;  // nobody
                         warn_if_due(after, warning, store::null_sender_destination(route), now,
                                     compose, sent);
                       });
    }
    return PgResult<void>{};
  });
  ++*writes_in_flight_;
  answer<int>(pool_, std::move(unit), sent,
              [writes = writes_in_flight_, done = std::move(done)](Result<int> r) {
                --*writes;
                if (done) done(std::move(r));
              });
}

}  // namespace postroom::pgstore
