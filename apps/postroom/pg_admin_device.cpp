// Per-device passwords on PostgreSQL for `postroom device add|list|revoke`: the rows
// libs/store/src/devices.cpp writes and lists on SQLite. Never reads a password hash back.
#include <ctime>

#include "pg_admin.hpp"

namespace postroom::cli::pg {

Result<std::vector<std::string>> sender_addresses(PGconn* conn, const std::string& address) {
  std::vector<std::string> out{address};
  // A catch-all ("@domain") gives its target no address to send from.
  auto r = pgschema::query(conn,
                           "SELECT alias FROM aliases WHERE target = $1 AND alias NOT LIKE '@%'"
                           " ORDER BY alias COLLATE \"C\"",
                           {{address}});
  if (!r) return std::unexpected(r.error());
  for (int i = 0; i < PQntuples(r->get()); ++i) out.push_back(text(r->get(), i, 0));
  return out;
}

Result<bool> device_selector_taken(PGconn* conn, const std::string& address,
                                   const std::string& selector) {
  auto r = pgschema::query(conn,
                           "SELECT 1 FROM devices d JOIN accounts a ON a.id = d.account_id"
                           " WHERE a.address = $1 AND d.selector = $2",
                           {{address}, {selector}});
  if (!r) return std::unexpected(r.error());
  return PQntuples(r->get()) > 0;
}

Result<void> add_device(PGconn* conn, const std::string& address, const std::string& name,
                        const std::string& selector, const std::string& password_hash,
                        const store::DeviceRights& rights) {
  auto tx = Transaction::begin(conn);
  if (!tx) return std::unexpected(tx.error());
  // The mailbox locked: `user del` cannot remove it under the new device.
  auto account = lock_account(conn, address);
  if (!account) return std::unexpected(account.error());
  std::string id = *account;
  auto name_taken = pgschema::query(
      conn, "SELECT 1 FROM devices WHERE account_id = $1 AND name = $2", {{id}, {name}});
  if (!name_taken) return std::unexpected(name_taken.error());
  if (PQntuples(name_taken->get()) > 0)
    return fail(address + " already has a device named '" + name + "'");
  // ON CONFLICT: the selector (or the name, added meanwhile by another admin) is taken.
  auto added =
      pgschema::query(conn,
                      "INSERT INTO devices(account_id, name, selector, password_hash, pop3, smtp,"
                      " rate_per_hour, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                      " ON CONFLICT DO NOTHING RETURNING id",
                      {{id},
                       {name},
                       {selector},
                       {password_hash},
                       {rights.pop3 ? "1" : "0"},
                       {rights.smtp ? "1" : "0"},
                       {std::to_string(rights.rate_per_hour)},
                       {std::to_string(std::time(nullptr))}});
  if (!added) return std::unexpected(added.error());
  if (PQntuples(added->get()) == 0) return fail("device selector already taken");
  std::string device = text(added->get(), 0, 0);
  for (const auto& sender : rights.senders) {
    auto r = pgschema::query(conn,
                             "INSERT INTO device_senders(device_id, address) VALUES ($1, $2)"
                             " ON CONFLICT DO NOTHING",
                             {{device}, {sender}});
    if (!r) return std::unexpected(r.error());
  }
  return tx->commit();
}

Result<void> delete_device(PGconn* conn, const std::string& address, const std::string& name) {
  // The senders go with it (ON DELETE CASCADE); the next login with its password fails.
  auto r = pgschema::query(conn,
                           "DELETE FROM devices WHERE name = $1 AND account_id ="
                           " (SELECT id FROM accounts WHERE address = $2)",
                           {{name}, {address}});
  if (!r) return std::unexpected(r.error());
  if (changed(r->get()) == 0) return fail(address + " has no device named '" + name + "'");
  return {};
}

Result<std::vector<store::Device>> list_devices(PGconn* conn,
                                                const std::optional<std::string>& address) {
  // One snapshot for the devices and their senders.
  auto tx = Transaction::begin(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!tx) return std::unexpected(tx.error());
  auto r = pgschema::query(conn,
                           "SELECT d.id, d.account_id, a.address, d.name, d.selector, d.pop3,"
                           " d.smtp, d.rate_per_hour, d.created_at, d.last_used_at,"
                           " coalesce(d.last_ip, '')"
                           " FROM devices d JOIN accounts a ON a.id = d.account_id"
                           " WHERE a.deleting = 0 AND ($1::text IS NULL OR a.address = $1)"
                           " ORDER BY a.address COLLATE \"C\", d.name COLLATE \"C\"",
                           {address ? pgschema::Param{*address} : pgschema::Param{}});
  if (!r) return std::unexpected(r.error());
  std::vector<store::Device> out;
  PGresult* res = r->get();
  for (int i = 0; i < PQntuples(res); ++i) {
    store::Device d;
    d.id = int64(res, i, 0);
    d.account_id = int64(res, i, 1);
    d.address = text(res, i, 2);
    d.name = text(res, i, 3);
    d.selector = text(res, i, 4);
    d.rights.pop3 = int64(res, i, 5) != 0;
    d.rights.smtp = int64(res, i, 6) != 0;
    d.rights.rate_per_hour = int64(res, i, 7);
    d.created_at = int64(res, i, 8);
    d.last_used_at = optional_int64(res, i, 9);
    d.last_ip = text(res, i, 10);
    out.push_back(std::move(d));
  }
  for (auto& d : out) {
    auto senders = pgschema::query(conn,
                                   "SELECT address FROM device_senders WHERE device_id = $1"
                                   " ORDER BY address COLLATE \"C\"",
                                   {{std::to_string(d.id)}});
    if (!senders) return std::unexpected(senders.error());
    for (int i = 0; i < PQntuples(senders->get()); ++i)
      d.rights.senders.push_back(text(senders->get(), i, 0));
  }
  if (auto c = tx->commit(); !c) return std::unexpected(c.error());
  return out;
}

}  // namespace postroom::cli::pg
