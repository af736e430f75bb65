// AdminStore on PostgreSQL: the same rows and answers as libs/store/src/accounts.cpp and
// queue.cpp give on SQLite, in parameterised statements over a synchronous connection.
// Text keys sort with COLLATE "C", SQLite's byte order, so listings match line for line
// whatever the database's collation.
#include <ctime>
#include <string_view>
#include <utility>

#include "admin_store.hpp"
#include "postroom/pgschema/connection.hpp"
#include "postroom/pgschema/migrations.hpp"

namespace postroom::cli {

namespace {

using pgschema::Param;

// Rows deleted per transaction by `user del`: short transactions, as on SQLite, so the
// daemons' writes never queue long behind the deletion.
constexpr int kDeleteBatch = 500;

std::string text(PGresult* r, int row, int column) {
  return PQgetvalue(r, row, column);
}

std::int64_t int64(PGresult* r, int row, int column) {
  return std::stoll(PQgetvalue(r, row, column));
}

std::optional<std::int64_t> optional_int64(PGresult* r, int row, int column) {
  if (PQgetisnull(r, row, column)) return std::nullopt;
  return int64(r, row, column);
}

// Rows a statement changed (INSERT, UPDATE, DELETE).
std::int64_t changed(PGresult* r) {
  std::string_view n = PQcmdTuples(r);
  return n.empty() ? 0 : std::stoll(std::string(n));
}

// BEGIN, and ROLLBACK unless committed: every write of one command, or none of it.
class Transaction {
 public:
  static Result<Transaction> begin(PGconn* conn) {
    if (auto r = pgschema::exec(conn, "BEGIN"); !r) return std::unexpected(r.error());
    return Transaction(conn);
  }
  Transaction(Transaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (conn_) (void)pgschema::exec(conn_, "ROLLBACK");
  }
  Result<void> commit() { return pgschema::exec(std::exchange(conn_, nullptr), "COMMIT"); }

 private:
  explicit Transaction(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

class PgAdminStore final : public AdminStore {
 public:
  explicit PgAdminStore(pgschema::Connection conn) : conn_(std::move(conn)) {}

  Result<std::vector<store::AccountSummary>> list_accounts() override {
    auto r = pgschema::query(
        pg(),
        "SELECT a.address, count(d.id), coalesce(sum(c.pop3_size), 0) FROM accounts a"
        " LEFT JOIN deliveries d ON d.account_id = a.id"
        " LEFT JOIN contents c ON c.id = d.content_id"
        " WHERE a.deleting = 0 GROUP BY a.id, a.address ORDER BY a.address COLLATE \"C\"");
    if (!r) return std::unexpected(r.error());
    std::vector<store::AccountSummary> out;
    for (int i = 0; i < PQntuples(r->get()); ++i)
      out.push_back({text(r->get(), i, 0), int64(r->get(), i, 1), int64(r->get(), i, 2)});
    return out;
  }

  Result<std::map<std::string, store::QuotaLimit>> mailbox_limits(
      const store::QuotaDefaults& defaults) override {
    auto r = pgschema::query(pg(),
                             "SELECT a.address, q.max_bytes, q.max_messages FROM accounts a"
                             " LEFT JOIN account_quotas q ON q.account_id = a.id");
    if (!r) return std::unexpected(r.error());
    std::map<std::string, store::QuotaLimit> out;
    for (int i = 0; i < PQntuples(r->get()); ++i)
      out[text(r->get(), i, 0)] = store::effective(
          {optional_int64(r->get(), i, 1), optional_int64(r->get(), i, 2)}, defaults.user);
    return out;
  }

  Result<bool> has_account(const std::string& address) override {
    auto r = pgschema::query(pg(), "SELECT 1 FROM accounts WHERE address = $1 AND deleting = 0",
                             {{address}});
    if (!r) return std::unexpected(r.error());
    return PQntuples(r->get()) > 0;
  }

  Result<void> add_account(const std::string& address, const std::string& hash) override {
    auto tx = Transaction::begin(pg());
    if (!tx) return std::unexpected(tx.error());
    if (auto free = refuse_existing(address, "mailbox " + address + " already exists"); !free)
      return free;
    // ON CONFLICT: another admin adding the same mailbox meanwhile gets the same answer.
    auto r = pgschema::query(pg(),
                             "INSERT INTO accounts(address, password_hash, created_at)"
                             " VALUES ($1, $2, $3) ON CONFLICT (address) DO NOTHING",
                             {{address}, {hash}, {std::to_string(std::time(nullptr))}});
    if (!r) return std::unexpected(r.error());
    if (changed(r->get()) == 0) return fail("mailbox " + address + " already exists");
    return tx->commit();
  }

  Result<void> set_password(const std::string& address, const std::string& hash) override {
    auto r = pgschema::query(pg(), "UPDATE accounts SET password_hash = $1 WHERE address = $2",
                             {{hash}, {address}});
    if (!r) return std::unexpected(r.error());
    if (changed(r->get()) == 0) return fail("no mailbox " + address);
    return {};
  }

  Result<void> set_apop_secret(const std::string& address,
                               const std::optional<std::string>& secret) override {
    auto account = pgschema::query(
        pg(), "SELECT id FROM accounts WHERE address = $1 AND deleting = 0", {{address}});
    if (!account) return std::unexpected(account.error());
    if (PQntuples(account->get()) == 0) return fail("no mailbox " + address);
    std::string id = text(account->get(), 0, 0);
    auto r =
        secret ? pgschema::query(pg(),
                                 "INSERT INTO apop_secrets (account_id, secret) VALUES ($1, $2)"
                                 " ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret",
                                 {{id}, {*secret}})
               : pgschema::query(pg(), "DELETE FROM apop_secrets WHERE account_id = $1", {{id}});
    if (!r) return std::unexpected(r.error());
    return {};
  }

  Result<int> delete_account(const std::string& address,
                             const std::function<void(int)>& progress) override {
    // First the mark, committed alone: from then on the mailbox takes no mail and no login,
    // and a deletion cut short is finished by the next `user del`.
    std::string id;
    {
      auto tx = Transaction::begin(pg());
      if (!tx) return std::unexpected(tx.error());
      auto r = pgschema::query(pg(), "SELECT id FROM accounts WHERE address = $1 FOR UPDATE",
                               {{address}});
      if (!r) return std::unexpected(r.error());
      if (PQntuples(r->get()) == 0) return fail("no mailbox " + address);
      id = text(r->get(), 0, 0);
      auto marked = pgschema::query(pg(), "UPDATE accounts SET deleting = 1 WHERE id = $1", {{id}});
      if (!marked) return std::unexpected(marked.error());
      if (auto c = tx->commit(); !c) return std::unexpected(c.error());
    }
    // Then the messages, a batch per statement (each its own transaction); the schema's
    // triggers release contents nothing else refers to and keep the usage counters.
    int removed = 0;
    while (true) {
      auto r = pgschema::query(pg(),
                               "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
                               " WHERE account_id = $1 LIMIT $2)",
                               {{id}, {std::to_string(kDeleteBatch)}});
      if (!r) return std::unexpected(r.error());
      auto batch = changed(r->get());
      if (batch == 0) break;
      removed += static_cast<int>(batch);
      if (progress) progress(removed);
    }
    auto r = pgschema::query(pg(), "DELETE FROM accounts WHERE id = $1", {{id}});
    if (!r) return std::unexpected(r.error());
    return removed;
  }

  Result<std::vector<store::Alias>> list_aliases() override {
    auto r = pgschema::query(
        pg(),
        "SELECT alias, target FROM aliases ORDER BY alias COLLATE \"C\", target COLLATE \"C\"");
    if (!r) return std::unexpected(r.error());
    std::vector<store::Alias> out;
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      std::string alias = text(r->get(), i, 0);
      if (out.empty() || out.back().alias != alias) out.push_back({alias, {}});
      out.back().targets.push_back(text(r->get(), i, 1));
    }
    return out;
  }

  Result<void> add_alias(const std::string& alias,
                         const std::vector<std::string>& targets) override {
    auto tx = Transaction::begin(pg());
    if (!tx) return std::unexpected(tx.error());
    if (auto free =
            refuse_existing(alias, alias + " is a mailbox; an alias cannot share its address");
        !free)
      return free;
    for (const auto& target : targets) {
      if (target == alias) return fail("alias " + alias + " cannot point at itself");
      auto r = pgschema::query(pg(),
                               "INSERT INTO aliases(alias, target) VALUES ($1, $2)"
                               " ON CONFLICT DO NOTHING",
                               {{alias}, {target}});
      if (!r) return std::unexpected(r.error());
    }
    return tx->commit();
  }

  Result<void> delete_alias(const std::string& alias) override {
    auto r = pgschema::query(pg(), "DELETE FROM aliases WHERE alias = $1", {{alias}});
    if (!r) return std::unexpected(r.error());
    if (changed(r->get()) == 0) return fail("no alias " + alias);
    return {};
  }

  Result<std::vector<store::QueuedRecipient>> list_queue() override {
    auto r = pgschema::query(
        pg(),
        "SELECT r.id, q.queue_id, r.recipient, r.state, r.attempts, r.next_attempt, r.last_reply"
        " FROM queue_recipients r JOIN queue q ON q.id = r.queue_row"
        " WHERE r.state IN ('queued', 'deferred') ORDER BY r.next_attempt, r.id");
    if (!r) return std::unexpected(r.error());
    std::vector<store::QueuedRecipient> out;
    PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i)
      out.push_back({int64(res, i, 0), text(res, i, 1), text(res, i, 2), text(res, i, 3),
                     int64(res, i, 4), int64(res, i, 5), text(res, i, 6)});
    return out;
  }

 private:
  PGconn* pg() { return conn_.get(); }

  // Fails when `address` is a mailbox: with `taken`, or, for one being deleted, with what
  // finishes that (as libs/store's account_exists).
  Result<void> refuse_existing(const std::string& address, const std::string& taken) {
    auto r = pgschema::query(pg(), "SELECT deleting FROM accounts WHERE address = $1 FOR UPDATE",
                             {{address}});
    if (!r) return std::unexpected(r.error());
    if (PQntuples(r->get()) == 0) return {};
    if (int64(r->get(), 0, 0) != 0)
      return fail("mailbox " + address + " is being deleted: run `postroom user del " + address +
                  "` again to finish");
    return fail(taken);
  }

  pgschema::Connection conn_;
};

}  // namespace

Result<std::unique_ptr<AdminStore>> open_pg_admin_store(const config::Config& config) {
  if (!config.store.postgresql) return fail("the config has no store.postgresql section");
  auto params = config.store.postgresql->connection_params();
  if (!params) return std::unexpected(params.error());
  auto conn = pgschema::connect(*params);
  if (!conn) return std::unexpected(conn.error());
  // The database may be new: the schema first, as postroomd and migrate-store do; quietly,
  // as a new SQLite file is created and migrated.
  auto applied = pgschema::migrate(conn->get());
  if (!applied) return std::unexpected(applied.error());
  return std::make_unique<PgAdminStore>(std::move(*conn));
}

}  // namespace postroom::cli
