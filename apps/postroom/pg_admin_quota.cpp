// Quotas on PostgreSQL for `postroom user quota`, `domain quota` and `domain list`: the
// settings and usage libs/store/src/quotas.cpp reads and writes on SQLite. Usage comes from
// the counters the schema's triggers keep.
#include "pg_admin.hpp"

namespace postroom::cli::pg {

namespace {

// Replaces a setting with one statement: both halves unset deletes the row (back to the
// defaults), as on SQLite.
Result<void> write_setting(PGconn* conn, const char* upsert, const char* remove,
                           const std::string& key, const store::QuotaSetting& setting) {
  auto r = !setting.bytes && !setting.messages
               ? pgschema::query(conn, remove, {{key}})
               : pgschema::query(conn, upsert,
                                 {{key}, int_param(setting.bytes), int_param(setting.messages)});
  if (!r) return std::unexpected(r.error());
  return {};
}

store::QuotaSetting setting_of(PGresult* r, int column) {
  if (PQntuples(r) == 0) return {};
  return {optional_int64(r, 0, column), optional_int64(r, 0, column + 1)};
}

}  // namespace

Result<store::QuotaSetting> account_quota(PGconn* conn, const std::string& address) {
  auto r = pgschema::query(conn,
                           "SELECT a.id, q.max_bytes, q.max_messages FROM accounts a"
                           " LEFT JOIN account_quotas q ON q.account_id = a.id"
                           " WHERE a.address = $1 AND a.deleting = 0",
                           {{address}});
  if (!r) return std::unexpected(r.error());
  if (PQntuples(r->get()) == 0) return fail("no mailbox " + address);
  return setting_of(r->get(), 1);
}

Result<void> set_account_quota(PGconn* conn, const std::string& address,
                               const store::QuotaSetting& setting) {
  // The mailbox locked while its setting changes: `user del` cannot slip in between.
  auto tx = Transaction::begin(conn);
  if (!tx) return std::unexpected(tx.error());
  auto account = lock_account(conn, address);
  if (!account) return std::unexpected(account.error());
  if (auto w =
          write_setting(conn,
                        "INSERT INTO account_quotas(account_id, max_bytes, max_messages)"
                        " VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE SET"
                        " max_bytes = excluded.max_bytes, max_messages = excluded.max_messages",
                        "DELETE FROM account_quotas WHERE account_id = $1", *account, setting);
      !w)
    return w;
  return tx->commit();
}

Result<store::Usage> mailbox_usage(PGconn* conn, const std::string& address) {
  auto r = pgschema::query(conn,
                           "SELECT u.messages, u.bytes FROM mailbox_usage u"
                           " JOIN accounts a ON a.id = u.account_id WHERE a.address = $1",
                           {{address}});
  if (!r) return std::unexpected(r.error());
  if (PQntuples(r->get()) == 0) return store::Usage{};
  return store::Usage{int64(r->get(), 0, 0), int64(r->get(), 0, 1)};
}

Result<store::QuotaSetting> domain_quota(PGconn* conn, const std::string& domain) {
  auto r = pgschema::query(
      conn, "SELECT max_bytes, max_messages FROM domain_quotas WHERE domain = $1", {{domain}});
  if (!r) return std::unexpected(r.error());
  return setting_of(r->get(), 0);
}

Result<void> set_domain_quota(PGconn* conn, const std::string& domain,
                              const store::QuotaSetting& setting) {
  return write_setting(conn,
                       "INSERT INTO domain_quotas(domain, max_bytes, max_messages)"
                       " VALUES ($1, $2, $3) ON CONFLICT (domain) DO UPDATE SET"
                       " max_bytes = excluded.max_bytes, max_messages = excluded.max_messages",
                       "DELETE FROM domain_quotas WHERE domain = $1", domain, setting);
}

Result<store::Usage> domain_usage(PGconn* conn, const std::string& domain) {
  // One row per mailbox, as on SQLite; matching the address's end is exact whatever its
  // local part holds.
  auto r = pgschema::query(conn,
                           "SELECT coalesce(sum(u.messages), 0), coalesce(sum(u.bytes), 0)"
                           " FROM mailbox_usage u JOIN accounts a ON a.id = u.account_id"
                           " WHERE right(a.address, length($1::text) + 1) = '@' || $1::text",
                           {{domain}});
  if (!r) return std::unexpected(r.error());
  return store::Usage{int64(r->get(), 0, 0), int64(r->get(), 0, 1)};
}

}  // namespace postroom::cli::pg
