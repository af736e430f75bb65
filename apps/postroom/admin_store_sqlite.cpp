// AdminStore on the SQLite file: libs/store's functions, as the commands called them before.
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::cli {

namespace {

class SqliteAdminStore final : public AdminStore {
 public:
  SqliteAdminStore(store::Database db, std::filesystem::path data_dir)
      : db_(std::move(db)), data_dir_(std::move(data_dir)) {}

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

 private:
  store::Database db_;
  std::filesystem::path data_dir_;
};

}  // namespace

Result<std::unique_ptr<AdminStore>> open_sqlite_admin_store(const config::Config& config) {
  auto db = open_store(config);
  if (!db) return std::unexpected(db.error());
  return std::make_unique<SqliteAdminStore>(std::move(*db), config.data_dir);
}

Result<std::unique_ptr<AdminStore>> open_admin_store(const config::Config& config) {
  if (config.store.backend == config::StoreBackend::postgresql) return open_pg_admin_store(config);
  return open_sqlite_admin_store(config);
}

}  // namespace postroom::cli
