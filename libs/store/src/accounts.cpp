// Accounts, APOP secrets and aliases in SQLite, and recipient resolution over them.
#include "postroom/store/accounts.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "postroom/store/database.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

Result<bool> account_exists(Database& db, const std::string& address) {
  TRY_STMT(s, db, "SELECT deleting FROM accounts WHERE address = ?");
  s->bind(1, address);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (*row && s->column_int(0) != 0)
    return fail("mailbox " + address + " is being deleted: run `postroom user del " + address +
                "` again to finish");
  return *row;
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

}  // namespace

Result<std::int64_t> add_account(Database& db, const std::string& address,
                                 const std::string& password_hash) {
  auto exists = account_exists(db, address);
  if (!exists) return std::unexpected(exists.error());
  if (*exists) return fail("mailbox " + address + " already exists");
  TRY_STMT(s, db, "INSERT INTO accounts(address, password_hash, created_at) VALUES (?, ?, ?)");
  s->bind(1, address).bind(2, password_hash).bind(3, static_cast<std::int64_t>(std::time(nullptr)));
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return db.last_insert_id();
}

Result<void> set_password(Database& db, const std::string& address,
                          const std::string& password_hash) {
  TRY_STMT(s, db, "UPDATE accounts SET password_hash = ? WHERE address = ?");
  s->bind(1, password_hash).bind(2, address);
  if (auto r = s->run(); !r) return r;
  if (db.changes() == 0) return fail("no mailbox " + address);
  return {};
}

Result<int> delete_account(Database& db, const std::string& address,
                           const std::function<void(int)>& progress) {
  // First the mark, in a transaction of its own: from then on the mailbox takes no mail
  // and no login, and a deletion cut short is finished by the next `user del`.
  std::int64_t id = 0;
  {
    auto tx = Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    {
      TRY_STMT(s, db, "SELECT id FROM accounts WHERE address = ?");
      s->bind(1, address);
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return fail("no mailbox " + address);
      id = s->column_int(0);
    }
    TRY_STMT(s, db, "UPDATE accounts SET deleting = 1 WHERE id = ?");
    s->bind(1, id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    if (auto r = tx->commit(); !r) return std::unexpected(r.error());
  }
  // Then the messages, a batch per short transaction, so the daemon's writer never waits
  // long for the lock. Their contents go by the release triggers.
  int removed = 0;
  while (true) {
    auto tx = Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    TRY_STMT(s, db,
             "DELETE FROM deliveries WHERE id IN"
             " (SELECT id FROM deliveries WHERE account_id = ? LIMIT 100)");
    s->bind(1, id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    int batch = db.changes();
    if (auto r = tx->commit(); !r) return std::unexpected(r.error());
    if (batch == 0) break;
    removed += batch;
    if (progress) progress(removed);
  }
  TRY_STMT(s, db, "DELETE FROM accounts WHERE id = ?");
  s->bind(1, id);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return removed;
}

Result<std::vector<AccountSummary>> list_accounts(Database& db) {
  TRY_STMT(s, db,
           "SELECT a.address, count(d.id), coalesce(sum(c.pop3_size), 0) FROM accounts a"
           " LEFT JOIN deliveries d ON d.account_id = a.id"
           " LEFT JOIN contents c ON c.id = d.content_id"
           " WHERE a.deleting = 0 GROUP BY a.id ORDER BY a.address");
  std::vector<AccountSummary> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back({s->column_text(0), s->column_int(1), s->column_int(2)});
  }
  return out;
}

Result<std::optional<Account>> find_account(Database& db, const std::string& address) {
  TRY_STMT(s, db,
           "SELECT a.id, a.address, a.password_hash, p.secret FROM accounts a"
           " LEFT JOIN apop_secrets p ON p.account_id = a.id"
           " WHERE a.address = ? AND a.deleting = 0");
  s->bind(1, address);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Account>();
  Account account{s->column_int(0), s->column_text(1), s->column_text(2), std::nullopt};
  if (!s->column_is_null(3)) account.apop_secret = s->column_text(3);
  return std::optional<Account>(std::move(account));
}

Result<void> set_apop_secret(Database& db, const std::string& address,
                             const std::optional<std::string>& secret) {
  auto account = find_account(db, address);
  if (!account) return std::unexpected(account.error());
  if (!*account) return fail("no mailbox " + address);
  if (!secret) {
    TRY_STMT(s, db, "DELETE FROM apop_secrets WHERE account_id = ?");
    s->bind(1, (*account)->id);
    return s->run();
  }
  TRY_STMT(s, db,
           "INSERT INTO apop_secrets(account_id, secret) VALUES (?, ?)"
           " ON CONFLICT(account_id) DO UPDATE SET secret = excluded.secret");
  s->bind(1, (*account)->id).bind(2, *secret);
  return s->run();
}

Result<void> add_alias(Database& db, const std::string& alias,
                       const std::vector<std::string>& targets) {
  auto exists = account_exists(db, alias);
  if (!exists) return std::unexpected(exists.error());
  if (*exists) return fail(alias + " is a mailbox; an alias cannot share its address");
  for (const auto& target : targets) {
    if (target == alias) return fail("alias " + alias + " cannot point at itself");
    TRY_STMT(s, db, "INSERT OR IGNORE INTO aliases(alias, target) VALUES (?, ?)");
    s->bind(1, alias).bind(2, target);
    if (auto r = s->run(); !r) return r;
  }
  return {};
}

Result<void> delete_alias(Database& db, const std::string& alias) {
  TRY_STMT(s, db, "DELETE FROM aliases WHERE alias = ?");
  s->bind(1, alias);
  if (auto r = s->run(); !r) return r;
  if (db.changes() == 0) return fail("no alias " + alias);
  return {};
}

Result<std::vector<Alias>> list_aliases(Database& db) {
  TRY_STMT(s, db, "SELECT alias, target FROM aliases ORDER BY alias, target");
  std::vector<Alias> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    std::string alias = s->column_text(0);
    if (out.empty() || out.back().alias != alias) out.push_back({alias, {}});
    out.back().targets.push_back(s->column_text(1));
  }
  return out;
}

Result<std::vector<std::string>> sender_addresses(Database& db, const std::string& address) {
  std::vector<std::string> out{address};
  // A catch-all ("@domain") gives its target no address to send from.
  TRY_STMT(s, db,
           "SELECT alias FROM aliases WHERE target = ? AND alias NOT LIKE '@%' ORDER BY alias");
  s->bind(1, address);
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(s->column_text(0));
  }
  return out;
}

namespace {

constexpr int kMaxAliasDepth = 10;

// Role addresses a domain's catch-all never takes: mail for them must reach a person who
// answers for the domain (RFC 2142), or be refused so the sender knows.
bool catch_all_skips(std::string_view address) {
  std::string_view local = address.substr(0, address.rfind('@'));
  return local == "postmaster" || local == "abuse";
}

Result<void> expand(Database& db, const std::string& address,
                    const std::function<bool(std::string_view)>& is_local_domain,
                    std::set<std::string>& seen, int depth, Route& route) {
  if (!seen.insert(address).second || depth > kMaxAliasDepth) return {};  // loop or too deep
  if (!is_local_domain(domain_of(address))) {
    if (std::find(route.remote.begin(), route.remote.end(), address) == route.remote.end())
      route.remote.push_back(address);
    return {};
  }
  TRY_STMT(account, db, "SELECT id FROM accounts WHERE address = ? AND deleting = 0");
  account->bind(1, address);
  auto row = account->step();
  if (!row) return std::unexpected(row.error());
  if (*row) {
    auto id = account->column_int(0);
    if (std::find(route.accounts.begin(), route.accounts.end(), id) == route.accounts.end())
      route.accounts.push_back(id);
    return {};
  }
  std::vector<std::string> targets;
  {
    TRY_STMT(alias, db, "SELECT target FROM aliases WHERE alias = ?");
    alias->bind(1, address);
    while (true) {
      auto next = alias->step();
      if (!next) return std::unexpected(next.error());
      if (!*next) break;
      targets.push_back(alias->column_text(0));
    }
  }
  if (targets.empty() && !catch_all_skips(address)) {
    // No mailbox and no alias: the domain's catch-all ("@example.test"), if it has one.
    TRY_STMT(catch_all, db, "SELECT target FROM aliases WHERE alias = ?");
    catch_all->bind(1, "@" + std::string(domain_of(address)));
    while (true) {
      auto next = catch_all->step();
      if (!next) return std::unexpected(next.error());
      if (!*next) break;
      targets.push_back(catch_all->column_text(0));
    }
  }
  for (const auto& target : targets) {
    if (auto r = expand(db, target, is_local_domain, seen, depth + 1, route); !r) return r;
  }
  return {};
}

}  // namespace

Result<Route> resolve_recipient(Database& db, const std::string& address,
                                const std::function<bool(std::string_view)>& is_local_domain) {
  Route route;
  if (!is_local_domain(domain_of(address))) {
    route.kind = Route::Kind::remote;
    route.remote.push_back(address);
    return route;
  }
  std::set<std::string> seen;
  if (auto r = expand(db, address, is_local_domain, seen, 0, route); !r)
    return std::unexpected(r.error());
  // A local alias that forwards elsewhere is still a local recipient: accepting it is
  // not relaying, whoever the client is.
  bool found = !route.accounts.empty() || !route.remote.empty();
  route.kind = found ? Route::Kind::local : Route::Kind::unknown;
  return route;
}

}  // namespace postroom::store
