// AdminStore on PostgreSQL: the same rows and answers as libs/store gives on SQLite, in
// parameterised statements over a synchronous connection. Mailboxes and aliases here; the
// other concerns in pg_admin_*.cpp (see pg_admin.hpp).
#include <ctime>
#include <utility>

#include "admin_store.hpp"
#include "pg_admin.hpp"
#include "postroom/pgschema/migrations.hpp"

namespace postroom::cli {

namespace {

using pg::changed;
using pg::int64;
using pg::optional_int64;
using pg::text;
using pg::Transaction;
using pgschema::Param;

// Rows deleted per transaction by `user del`: short transactions, as on SQLite, so the
// daemons' writes never queue long behind the deletion.
constexpr int kDeleteBatch = 500;

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
    auto tx = Transaction::begin(pg());
    if (!tx) return std::unexpected(tx.error());
    auto account = pg::lock_account(pg(), address);
    if (!account) return std::unexpected(account.error());
    const std::string& id = *account;
    auto r =
        secret ? pgschema::query(pg(),
                                 "INSERT INTO apop_secrets (account_id, secret) VALUES ($1, $2)"
                                 " ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret",
                                 {{id}, {*secret}})
               : pgschema::query(pg(), "DELETE FROM apop_secrets WHERE account_id = $1", {{id}});
    if (!r) return std::unexpected(r.error());
    return tx->commit();
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

  Result<std::vector<store::QueuedRecipient>> list_queue() override { return pg::list_queue(pg()); }
  Result<std::optional<store::QueuedMessage>> find_queued(const std::string& queue_id) override {
    return pg::find_queued(pg(), queue_id);
  }
  Result<std::optional<std::string>> read_chunk(std::int64_t content_id,
                                                std::int64_t seq) override {
    return pg::read_chunk(pg(), content_id, seq);
  }
  Result<int> retry_queue(const std::optional<std::string>& queue_id) override {
    return pg::retry_queue(pg(), queue_id);
  }
  Result<void> delete_queued(const std::string& queue_id) override {
    return pg::delete_queued(pg(), queue_id);
  }

  Result<store::QuotaSetting> account_quota(const std::string& address) override {
    return pg::account_quota(pg(), address);
  }
  Result<void> set_account_quota(const std::string& address,
                                 const store::QuotaSetting& setting) override {
    return pg::set_account_quota(pg(), address, setting);
  }
  Result<store::Usage> mailbox_usage(const std::string& address) override {
    return pg::mailbox_usage(pg(), address);
  }
  Result<store::QuotaSetting> domain_quota(const std::string& domain) override {
    return pg::domain_quota(pg(), domain);
  }
  Result<void> set_domain_quota(const std::string& domain,
                                const store::QuotaSetting& setting) override {
    return pg::set_domain_quota(pg(), domain, setting);
  }
  Result<store::Usage> domain_usage(const std::string& domain) override {
    return pg::domain_usage(pg(), domain);
  }

  Result<std::vector<std::string>> sender_addresses(const std::string& address) override {
    return pg::sender_addresses(pg(), address);
  }
  Result<bool> device_selector_taken(const std::string& address,
                                     const std::string& selector) override {
    return pg::device_selector_taken(pg(), address, selector);
  }
  Result<void> add_device(const std::string& address, const std::string& name,
                          const std::string& selector, const std::string& password_hash,
                          const store::DeviceRights& rights) override {
    return pg::add_device(pg(), address, name, selector, password_hash, rights);
  }
  Result<void> delete_device(const std::string& address, const std::string& name) override {
    return pg::delete_device(pg(), address, name);
  }
  Result<std::vector<store::Device>> list_devices(
      const std::optional<std::string>& address) override {
    return pg::list_devices(pg(), address);
  }

  Result<void> set_vacation(const store::Vacation& vacation, std::int64_t now) override {
    return pg::set_vacation(pg(), vacation, now);
  }
  Result<bool> clear_vacation(const std::string& address) override {
    return pg::clear_vacation(pg(), address);
  }
  Result<std::optional<store::Vacation>> find_vacation(const std::string& address) override {
    return pg::find_vacation(pg(), address);
  }
  Result<std::vector<store::Vacation>> list_vacations() override {
    return pg::list_vacations(pg());
  }

  Result<void> add_access_rule(const store::AccessRule& rule) override {
    return pg::add_access_rule(pg(), rule);
  }
  Result<void> delete_access_rule(const store::AccessRule& rule) override {
    return pg::delete_access_rule(pg(), rule);
  }
  Result<std::vector<store::AccessRule>> list_access_rules() override {
    return pg::list_access_rules(pg());
  }

  Result<std::vector<store::RetentionSetting>> load_retention_settings() override {
    return pg::load_retention_settings(pg());
  }
  Result<void> set_retention(const store::RetentionSetting& setting) override {
    return pg::set_retention(pg(), setting);
  }
  Result<bool> clear_retention(const std::string& scope) override {
    return pg::clear_retention(pg(), scope);
  }

  Result<store::QueueOverview> queue_overview(int failures) override {
    return pg::queue_overview(pg(), failures);
  }
  Result<StoreSize> store_size() override {
    auto size = pg::database_size(pg());
    if (!size) return std::unexpected(size.error());
    return StoreSize{StoreSize::Backend::postgresql, size->first, size->second};
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
