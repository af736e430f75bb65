// The store operations of the admin commands that work on both backends (user add, passwd,
// del, list, apop; alias add, del, list; queue list): the SQLite file or PostgreSQL, as
// store.backend says. The commands print the same lines and exit the same way on both.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/quotas.hpp"

namespace postroom::cli {

class AdminStore {
 public:
  virtual ~AdminStore() = default;

  // Mailboxes not being deleted, by address in byte order, with their messages and octets.
  virtual Result<std::vector<store::AccountSummary>> list_accounts() = 0;
  // The limit in force for each mailbox, by address (store::mailbox_limits).
  virtual Result<std::map<std::string, store::QuotaLimit>> mailbox_limits(
      const store::QuotaDefaults& defaults) = 0;
  // Whether `address` is a mailbox (one being deleted is not).
  virtual Result<bool> has_account(const std::string& address) = 0;
  virtual Result<void> add_account(const std::string& address, const std::string& hash) = 0;
  virtual Result<void> set_password(const std::string& address, const std::string& hash) = 0;
  // The APOP secret (readable by nature, kept apart from the hash); none: APOP off.
  virtual Result<void> set_apop_secret(const std::string& address,
                                       const std::optional<std::string>& secret) = 0;
  // Marks the mailbox, deletes its messages in batches (`progress` after each), then the
  // mailbox; returns how many messages went. A deletion cut short is finished by the next.
  virtual Result<int> delete_account(const std::string& address,
                                     const std::function<void(int)>& progress) = 0;

  virtual Result<std::vector<store::Alias>> list_aliases() = 0;
  // All targets or none.
  virtual Result<void> add_alias(const std::string& alias,
                                 const std::vector<std::string>& targets) = 0;
  virtual Result<void> delete_alias(const std::string& alias) = 0;

  // Every recipient still waiting, in order of its next attempt.
  virtual Result<std::vector<store::QueuedRecipient>> list_queue() = 0;
};

// The store that store.backend names: the SQLite file (created and migrated when missing,
// as open_store does) or the PostgreSQL database (its schema migrated first).
Result<std::unique_ptr<AdminStore>> open_admin_store(const config::Config& config);

// The two implementations (admin_store_sqlite.cpp, pg_admin.cpp).
Result<std::unique_ptr<AdminStore>> open_sqlite_admin_store(const config::Config& config);
Result<std::unique_ptr<AdminStore>> open_pg_admin_store(const config::Config& config);

}  // namespace postroom::cli
