// The store operations of the admin commands that work on both backends (user, alias,
// domain, device, vacation, allow/block, retention, queue, status): on the SQLite file or
// on PostgreSQL, as store.backend says. The commands print the same lines and exit the
// same way on both.
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
#include "postroom/store/access_rules.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/devices.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/store/retention.hpp"
#include "postroom/store/vacation.hpp"

namespace postroom::cli {

// Where the store is and the room it takes, as `postroom status` shows it.
struct StoreSize {
  enum class Backend { sqlite, postgresql } backend = Backend::sqlite;
  std::string name;  // the SQLite file, or the PostgreSQL database
  std::uint64_t bytes = 0;
};

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
  // A queued message with its waiting recipients and their attempts; none: no such ID.
  virtual Result<std::optional<store::QueuedMessage>> find_queued(const std::string& queue_id) = 0;
  // Chunk `seq` of a stored message's body; none past its end.
  virtual Result<std::optional<std::string>> read_chunk(std::int64_t content_id,
                                                        std::int64_t seq) = 0;
  // Makes one message's waiting recipients (or every one's) due now; returns how many.
  virtual Result<int> retry_queue(const std::optional<std::string>& queue_id) = 0;
  // Drops a message and its recipients without a bounce; fails for an unknown ID.
  virtual Result<void> delete_queued(const std::string& queue_id) = 0;

  // A mailbox's quota setting, replaced whole; both fail with "no mailbox ADDRESS".
  virtual Result<store::QuotaSetting> account_quota(const std::string& address) = 0;
  virtual Result<void> set_account_quota(const std::string& address,
                                         const store::QuotaSetting& setting) = 0;
  // A mailbox's usage from the counters the store keeps.
  virtual Result<store::Usage> mailbox_usage(const std::string& address) = 0;
  virtual Result<store::QuotaSetting> domain_quota(const std::string& domain) = 0;
  virtual Result<void> set_domain_quota(const std::string& domain,
                                        const store::QuotaSetting& setting) = 0;
  // Every mailbox of `domain` together.
  virtual Result<store::Usage> domain_usage(const std::string& domain) = 0;

  // The mailbox's own address, then the aliases pointing at it (not catch-alls).
  virtual Result<std::vector<std::string>> sender_addresses(const std::string& address) = 0;
  // True when the mailbox has a device with this selector already.
  virtual Result<bool> device_selector_taken(const std::string& address,
                                             const std::string& selector) = 0;
  // Fails when the mailbox does not exist, the name is taken, or the selector is.
  virtual Result<void> add_device(const std::string& address, const std::string& name,
                                  const std::string& selector, const std::string& password_hash,
                                  const store::DeviceRights& rights) = 0;
  virtual Result<void> delete_device(const std::string& address, const std::string& name) = 0;
  // Every device, or one mailbox's, by address then name; without password hashes.
  virtual Result<std::vector<store::Device>> list_devices(
      const std::optional<std::string>& address) = 0;

  // Sets or replaces the away reply of the mailbox `vacation.address` (its account field is
  // not read), forgetting who got one; fails with "no mailbox ADDRESS".
  virtual Result<void> set_vacation(const store::Vacation& vacation, std::int64_t now) = 0;
  // Turns it off; false when there was none.
  virtual Result<bool> clear_vacation(const std::string& address) = 0;
  virtual Result<std::optional<store::Vacation>> find_vacation(const std::string& address) = 0;
  virtual Result<std::vector<store::Vacation>> list_vacations() = 0;

  // An identical rule already there, or none to delete, is an error naming it.
  virtual Result<void> add_access_rule(const store::AccessRule& rule) = 0;
  virtual Result<void> delete_access_rule(const store::AccessRule& rule) = 0;
  // Every rule, allow first, then by scope, kind and value.
  virtual Result<std::vector<store::AccessRule>> list_access_rules() = 0;

  // Every retention row, by scope.
  virtual Result<std::vector<store::RetentionSetting>> load_retention_settings() = 0;
  // Merges the fields `setting` has into its scope's row (creating it).
  virtual Result<void> set_retention(const store::RetentionSetting& setting) = 0;
  // False when the scope had no row.
  virtual Result<bool> clear_retention(const std::string& scope) = 0;

  // The outbound queue summarized, with at most `failures` recent failed attempts.
  virtual Result<store::QueueOverview> queue_overview(int failures) = 0;
  // The database file with its WAL, or the PostgreSQL database.
  virtual Result<StoreSize> store_size() = 0;
};

// The store that store.backend names: the SQLite file (created and migrated when missing,
// as open_store does) or the PostgreSQL database (its schema migrated first).
Result<std::unique_ptr<AdminStore>> open_admin_store(const config::Config& config);

// The two implementations (admin_store_sqlite.cpp, pg_admin.cpp).
Result<std::unique_ptr<AdminStore>> open_sqlite_admin_store(const config::Config& config);
Result<std::unique_ptr<AdminStore>> open_pg_admin_store(const config::Config& config);

}  // namespace postroom::cli
