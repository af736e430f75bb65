// What the files of the PostgreSQL admin store share (pg_admin*.cpp): readers of result
// columns, a transaction guard, and the operations of each concern as free functions over
// one synchronous connection. Text keys sort with COLLATE "C", SQLite's byte order, so
// listings match the SQLite backend line for line whatever the database's collation.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/pgschema/connection.hpp"
#include "postroom/store/access_rules.hpp"
#include "postroom/store/devices.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/store/retention.hpp"
#include "postroom/store/vacation.hpp"

namespace postroom::cli::pg {

inline std::string text(PGresult* r, int row, int column) {
  return PQgetvalue(r, row, column);
}

inline std::int64_t int64(PGresult* r, int row, int column) {
  return std::stoll(PQgetvalue(r, row, column));
}

inline std::optional<std::int64_t> optional_int64(PGresult* r, int row, int column) {
  if (PQgetisnull(r, row, column)) return std::nullopt;
  return int64(r, row, column);
}

// A bigint parameter, NULL for nullopt.
inline pgschema::Param int_param(std::optional<std::int64_t> value) {
  if (!value) return {};
  return {std::to_string(*value)};
}

// Rows a statement changed (INSERT, UPDATE, DELETE).
inline std::int64_t changed(PGresult* r) {
  std::string n = PQcmdTuples(r);
  return n.empty() ? 0 : std::stoll(n);
}

// The id of the live mailbox `address`, its row locked until the transaction ends (so `user
// del` cannot remove it meanwhile); "no mailbox ADDRESS" when there is none (or it is being
// deleted).
inline Result<std::string> lock_account(PGconn* conn, const std::string& address) {
  auto r = pgschema::query(
      conn, "SELECT id FROM accounts WHERE address = $1 AND deleting = 0 FOR UPDATE", {{address}});
  if (!r) return std::unexpected(r.error());
  if (PQntuples(r->get()) == 0) return fail("no mailbox " + address);
  return text(r->get(), 0, 0);
}

// BEGIN, and ROLLBACK unless committed: every write of one command, or none of it.
class Transaction {
 public:
  static Result<Transaction> begin(PGconn* conn, const char* sql = "BEGIN") {
    if (auto r = pgschema::exec(conn, sql); !r) return std::unexpected(r.error());
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

// The outbound queue (pg_admin_queue.cpp), as libs/store/src/queue.cpp on SQLite.
Result<std::vector<store::QueuedRecipient>> list_queue(PGconn* conn);
Result<std::optional<store::QueuedMessage>> find_queued(PGconn* conn, const std::string& queue_id);
Result<std::optional<std::string>> read_chunk(PGconn* conn, std::int64_t content_id,
                                              std::int64_t seq);
Result<int> retry_queue(PGconn* conn, const std::optional<std::string>& queue_id);
Result<void> delete_queued(PGconn* conn, const std::string& queue_id);

// Quota settings and usage (pg_admin_quota.cpp), as libs/store/src/quotas.cpp on SQLite;
// the mailbox ones fail with "no mailbox ADDRESS" for one that is not (or being deleted).
Result<store::QuotaSetting> account_quota(PGconn* conn, const std::string& address);
Result<void> set_account_quota(PGconn* conn, const std::string& address,
                               const store::QuotaSetting& setting);
Result<store::Usage> mailbox_usage(PGconn* conn, const std::string& address);
Result<store::QuotaSetting> domain_quota(PGconn* conn, const std::string& domain);
Result<void> set_domain_quota(PGconn* conn, const std::string& domain,
                              const store::QuotaSetting& setting);
Result<store::Usage> domain_usage(PGconn* conn, const std::string& domain);

// Per-device passwords (pg_admin_device.cpp), as libs/store/src/devices.cpp on SQLite; and
// the addresses a mailbox may send as, as store::sender_addresses.
Result<std::vector<std::string>> sender_addresses(PGconn* conn, const std::string& address);
Result<bool> device_selector_taken(PGconn* conn, const std::string& address,
                                   const std::string& selector);
Result<void> add_device(PGconn* conn, const std::string& address, const std::string& name,
                        const std::string& selector, const std::string& password_hash,
                        const store::DeviceRights& rights);
Result<void> delete_device(PGconn* conn, const std::string& address, const std::string& name);
Result<std::vector<store::Device>> list_devices(PGconn* conn,
                                                const std::optional<std::string>& address);

// Away replies (pg_admin_vacation.cpp), as libs/store/src/vacation.cpp on SQLite, by the
// mailbox's address; setting and clearing fail with "no mailbox ADDRESS".
Result<void> set_vacation(PGconn* conn, const store::Vacation& vacation, std::int64_t now);
Result<bool> clear_vacation(PGconn* conn, const std::string& address);
Result<std::optional<store::Vacation>> find_vacation(PGconn* conn, const std::string& address);
Result<std::vector<store::Vacation>> list_vacations(PGconn* conn);

// Allow and block lists and retention settings (pg_admin_policy.cpp), as
// libs/store/src/access_rules.cpp and retention.cpp on SQLite.
Result<void> add_access_rule(PGconn* conn, const store::AccessRule& rule);
Result<void> delete_access_rule(PGconn* conn, const store::AccessRule& rule);
Result<std::vector<store::AccessRule>> list_access_rules(PGconn* conn);
Result<std::vector<store::RetentionSetting>> load_retention_settings(PGconn* conn);
Result<void> set_retention(PGconn* conn, const store::RetentionSetting& setting);
Result<bool> clear_retention(PGconn* conn, const std::string& scope);

// For `postroom status` (pg_admin_status.cpp): the queue's summary, as store::queue_overview,
// and the database's name and size in bytes.
Result<store::QueueOverview> queue_overview(PGconn* conn, int failures);
Result<std::pair<std::string, std::uint64_t>> database_size(PGconn* conn);

}  // namespace postroom::cli::pg
