// AdminStore on the SQLite file: libs/store's functions, as the commands called them before.
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::cli {

namespace {

class SqliteAdminStore final : public AdminStore {
 public:
  SqliteAdminStore(store::Database db, std::filesystem::path data_dir,
                   std::filesystem::path database)
      : db_(std::move(db)), data_dir_(std::move(data_dir)), database_(std::move(database)) {}

  Result<std::vector<store::AccountSummary>> list_accounts() override {
    return store::list_accounts(db_);
  }
  Result<std::map<std::string, store::QuotaLimit>> mailbox_limits(
      const store::QuotaDefaults& defaults) override {
    return store::mailbox_limits(db_, defaults);
  }
  Result<bool> has_account(const std::string& address) override {
    auto found = store::find_account(db_, address);
    if (!found) return std::unexpected(found.error());
    return found->has_value();
  }
  Result<void> add_account(const std::string& address, const std::string& hash) override {
    auto added = store::add_account(db_, address, hash);
    if (!added) return std::unexpected(added.error());
    return {};
  }
  Result<void> set_password(const std::string& address, const std::string& hash) override {
    return store::set_password(db_, address, hash);
  }
  Result<void> set_apop_secret(const std::string& address,
                               const std::optional<std::string>& secret) override {
    return store::set_apop_secret(db_, address, secret);
  }
  Result<int> delete_account(const std::string& address,
                             const std::function<void(int)>& progress) override {
    auto removed = store::delete_account(db_, address, progress);
    // A full disk: the daemon's reserve makes room for the deletion (see Writer::Reserve).
    if (!removed && removed.error().kind == Error::Kind::disk_full &&
        store::release_reserve(data_dir_ / "postroom.reserve")) {
      std::cerr << "postroom: the disk is full; released the reserve to delete the mail\n";
      removed = store::delete_account(db_, address, progress);
    }
    return removed;
  }

  Result<std::vector<store::Alias>> list_aliases() override { return store::list_aliases(db_); }
  Result<void> add_alias(const std::string& alias,
                         const std::vector<std::string>& targets) override {
    auto tx = store::Transaction::begin(db_);
    if (!tx) return std::unexpected(tx.error());
    if (auto r = store::add_alias(db_, alias, targets); !r) return r;
    return tx->commit();
  }
  Result<void> delete_alias(const std::string& alias) override {
    return store::delete_alias(db_, alias);
  }

  Result<std::vector<store::QueuedRecipient>> list_queue() override {
    return store::list_queue(db_);
  }
  Result<std::optional<store::QueuedMessage>> find_queued(const std::string& queue_id) override {
    return store::find_queued(db_, queue_id);
  }
  Result<std::optional<std::string>> read_chunk(std::int64_t content_id,
                                                std::int64_t seq) override {
    return store::read_chunk(db_, content_id, seq);
  }
  Result<int> retry_queue(const std::optional<std::string>& queue_id) override {
    return store::retry_queue(db_, queue_id);
  }
  Result<void> delete_queued(const std::string& queue_id) override {
    return store::delete_queued(db_, queue_id);
  }

  Result<store::QuotaSetting> account_quota(const std::string& address) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::account_quota(db_, *id);
  }
  Result<void> set_account_quota(const std::string& address,
                                 const store::QuotaSetting& setting) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::set_account_quota(db_, *id, setting);
  }
  Result<store::Usage> mailbox_usage(const std::string& address) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::mailbox_usage(db_, *id);
  }
  Result<store::QuotaSetting> domain_quota(const std::string& domain) override {
    return store::domain_quota(db_, domain);
  }
  Result<void> set_domain_quota(const std::string& domain,
                                const store::QuotaSetting& setting) override {
    return store::set_domain_quota(db_, domain, setting);
  }
  Result<store::Usage> domain_usage(const std::string& domain) override {
    return store::domain_usage(db_, domain);
  }

  Result<std::vector<std::string>> sender_addresses(const std::string& address) override {
    return store::sender_addresses(db_, address);
  }
  Result<bool> device_selector_taken(const std::string& address,
                                     const std::string& selector) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::device_selector_taken(db_, *id, selector);
  }
  Result<void> add_device(const std::string& address, const std::string& name,
                          const std::string& selector, const std::string& password_hash,
                          const store::DeviceRights& rights) override {
    auto added = store::add_device(db_, address, name, selector, password_hash, rights);
    if (!added) return std::unexpected(added.error());
    return {};
  }
  Result<void> delete_device(const std::string& address, const std::string& name) override {
    return store::delete_device(db_, address, name);
  }
  Result<std::vector<store::Device>> list_devices(
      const std::optional<std::string>& address) override {
    return store::list_devices(db_, address);
  }

  Result<void> set_vacation(const store::Vacation& vacation, std::int64_t now) override {
    auto id = account_id(vacation.address);
    if (!id) return std::unexpected(id.error());
    store::Vacation v = vacation;
    v.account = *id;
    return store::set_vacation(db_, v, now);
  }
  Result<bool> clear_vacation(const std::string& address) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::clear_vacation(db_, *id);
  }
  Result<std::optional<store::Vacation>> find_vacation(const std::string& address) override {
    auto id = account_id(address);
    if (!id) return std::unexpected(id.error());
    return store::find_vacation(db_, *id);
  }
  Result<std::vector<store::Vacation>> list_vacations() override {
    return store::list_vacations(db_);
  }

  Result<void> add_access_rule(const store::AccessRule& rule) override {
    return store::add_access_rule(db_, rule);
  }
  Result<void> delete_access_rule(const store::AccessRule& rule) override {
    return store::delete_access_rule(db_, rule);
  }
  Result<std::vector<store::AccessRule>> list_access_rules() override {
    return store::list_access_rules(db_);
  }

  Result<std::vector<store::RetentionSetting>> load_retention_settings() override {
    return store::load_retention_settings(db_);
  }
  Result<void> set_retention(const store::RetentionSetting& setting) override {
    return store::set_retention(db_, setting);
  }
  Result<bool> clear_retention(const std::string& scope) override {
    return store::clear_retention(db_, scope);
  }

  Result<store::QueueOverview> queue_overview(int failures) override {
    return store::queue_overview(db_, failures);
  }
  Result<StoreSize> store_size() override {
    StoreSize size{StoreSize::Backend::sqlite, database_.string(), 0};
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      auto bytes = std::filesystem::file_size(database_.string() + suffix, ec);
      if (!ec) size.bytes += bytes;
    }
    return size;
  }

 private:
  Result<std::int64_t> account_id(const std::string& address) {
    auto found = store::find_account(db_, address);
    if (!found) return std::unexpected(found.error());
    if (!*found) return fail("no mailbox " + address);
    return (*found)->id;
  }

  store::Database db_;
  std::filesystem::path data_dir_;
  std::filesystem::path database_;
};

}  // namespace

Result<std::unique_ptr<AdminStore>> open_sqlite_admin_store(const config::Config& config) {
  auto db = open_store(config);
  if (!db) return std::unexpected(db.error());
  return std::make_unique<SqliteAdminStore>(std::move(*db), config.data_dir,
                                            config.database_path());
}

Result<std::unique_ptr<AdminStore>> open_admin_store(const config::Config& config) {
  if (config.store.backend == config::StoreBackend::postgresql) return open_pg_admin_store(config);
  return open_sqlite_admin_store(config);
}

}  // namespace postroom::cli
