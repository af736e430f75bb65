// Per-device passwords in SQLite: their hashes, rights and last use.
#include "postroom/store/devices.hpp"

#include <ctime>

#include "postroom/store/database.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

Result<std::optional<std::int64_t>> account_id_of(Database& db, const std::string& address) {
  TRY_STMT(s, db, "SELECT id FROM accounts WHERE address = ? AND deleting = 0");
  s->bind(1, address);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s->column_int(0));
}

Result<std::vector<std::string>> senders_of(Database& db, std::int64_t device_id) {
  TRY_STMT(s, db, "SELECT address FROM device_senders WHERE device_id = ? ORDER BY address");
  s->bind(1, device_id);
  std::vector<std::string> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(s->column_text(0));
  }
  return out;
}

}  // namespace

Result<bool> device_selector_taken(Database& db, std::int64_t account_id,
                                   const std::string& selector) {
  TRY_STMT(s, db, "SELECT 1 FROM devices WHERE account_id = ? AND selector = ?");
  s->bind(1, account_id).bind(2, selector);
  return s->step();
}

Result<std::int64_t> add_device(Database& db, const std::string& address, const std::string& name,
                                const std::string& selector, const std::string& password_hash,
                                const DeviceRights& rights) {
  auto tx = Transaction::begin(db);
  if (!tx) return std::unexpected(tx.error());
  auto account = account_id_of(db, address);
  if (!account) return std::unexpected(account.error());
  if (!*account) return fail("no mailbox " + address);
  {
    TRY_STMT(s, db, "SELECT 1 FROM devices WHERE account_id = ? AND name = ?");
    s->bind(1, **account).bind(2, name);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (*row) return fail(address + " already has a device named '" + name + "'");
  }
  auto taken = device_selector_taken(db, **account, selector);
  if (!taken) return std::unexpected(taken.error());
  if (*taken) return fail("device selector already taken");
  TRY_STMT(s, db,
           "INSERT INTO devices(account_id, name, selector, password_hash, pop3, smtp,"
           " rate_per_hour, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  s->bind(1, **account)
      .bind(2, name)
      .bind(3, selector)
      .bind(4, password_hash)
      .bind(5, std::int64_t{rights.pop3})
      .bind(6, std::int64_t{rights.smtp})
      .bind(7, rights.rate_per_hour)
      .bind(8, static_cast<std::int64_t>(std::time(nullptr)));
  TRY(s->run());
  std::int64_t id = db.last_insert_id();
  for (const auto& sender : rights.senders) {
    TRY_STMT(add, db, "INSERT OR IGNORE INTO device_senders(device_id, address) VALUES (?, ?)");
    add->bind(1, id).bind(2, sender);
    TRY(add->run());
  }
  TRY(tx->commit());
  return id;
}

Result<void> delete_device(Database& db, const std::string& address, const std::string& name) {
  // The senders go with it (ON DELETE CASCADE); the next login with its password fails.
  TRY_STMT(s, db,
           "DELETE FROM devices WHERE name = ? AND account_id ="
           " (SELECT id FROM accounts WHERE address = ?)");
  s->bind(1, name).bind(2, address);
  TRY(s->run());
  if (db.changes() == 0) return fail(address + " has no device named '" + name + "'");
  return {};
}

Result<std::vector<Device>> list_devices(Database& db, const std::optional<std::string>& address) {
  TRY_STMT(s, db,
           "SELECT d.id, d.account_id, a.address, d.name, d.selector, d.pop3, d.smtp,"
           " d.rate_per_hour, d.created_at, d.last_used_at, coalesce(d.last_ip, '')"
           " FROM devices d JOIN accounts a ON a.id = d.account_id"
           " WHERE a.deleting = 0 AND (?1 IS NULL OR a.address = ?1)"
           " ORDER BY a.address, d.name");
  if (address) {
    s->bind(1, *address);
  } else {
    s->bind_null(1);
  }
  std::vector<Device> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    Device d;
    d.id = s->column_int(0);
    d.account_id = s->column_int(1);
    d.address = s->column_text(2);
    d.name = s->column_text(3);
    d.selector = s->column_text(4);
    d.rights.pop3 = s->column_int(5) != 0;
    d.rights.smtp = s->column_int(6) != 0;
    d.rights.rate_per_hour = s->column_int(7);
    d.created_at = s->column_int(8);
    if (!s->column_is_null(9)) d.last_used_at = s->column_int(9);
    d.last_ip = s->column_text(10);
    out.push_back(std::move(d));
  }
  for (auto& d : out) {
    auto senders = senders_of(db, d.id);
    if (!senders) return std::unexpected(senders.error());
    d.rights.senders = std::move(*senders);
  }
  return out;
}

Result<std::optional<Device>> find_device(Database& db, std::int64_t account_id,
                                          const std::string& selector) {
  TRY_STMT(s, db,
           "SELECT d.id, a.address, d.name, d.password_hash, d.pop3, d.smtp, d.rate_per_hour,"
           " d.created_at FROM devices d JOIN accounts a ON a.id = d.account_id"
           " WHERE d.account_id = ? AND d.selector = ? AND a.deleting = 0");
  s->bind(1, account_id).bind(2, selector);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Device>();
  Device d;
  d.id = s->column_int(0);
  d.account_id = account_id;
  d.address = s->column_text(1);
  d.name = s->column_text(2);
  d.selector = selector;
  d.password_hash = s->column_text(3);
  d.rights.pop3 = s->column_int(4) != 0;
  d.rights.smtp = s->column_int(5) != 0;
  d.rights.rate_per_hour = s->column_int(6);
  d.created_at = s->column_int(7);
  auto senders = senders_of(db, d.id);
  if (!senders) return std::unexpected(senders.error());
  d.rights.senders = std::move(*senders);
  return std::optional<Device>(std::move(d));
}

Result<void> record_device_use(Database& db, std::int64_t device_id, std::int64_t at,
                               const std::string& ip) {
  // A device revoked meanwhile simply matches no row.
  TRY_STMT(s, db, "UPDATE devices SET last_used_at = ?, last_ip = ? WHERE id = ?");
  s->bind(1, at).bind(2, ip).bind(3, device_id);
  return s->run();
}

}  // namespace postroom::store
