// Away replies on PostgreSQL for `postroom vacation`: the settings libs/store/src/vacation.cpp
// keeps on SQLite. A new or cleared setting forgets which senders got a reply.
#include "pg_admin.hpp"

namespace postroom::cli::pg {

namespace {

Result<std::vector<store::Vacation>> select(PGconn* conn, const std::string& where,
                                            const std::vector<pgschema::Param>& params) {
  auto r = pgschema::query(conn,
                           "SELECT v.account_id, a.address, v.subject, v.body, v.starts_at,"
                           " v.ends_at, v.interval_days FROM vacations v"
                           " JOIN accounts a ON a.id = v.account_id" +
                               where + " ORDER BY a.address COLLATE \"C\"",
                           params);
  if (!r) return std::unexpected(r.error());
  std::vector<store::Vacation> out;
  PGresult* res = r->get();
  for (int i = 0; i < PQntuples(res); ++i) {
    store::Vacation v;
    v.account = int64(res, i, 0);
    v.address = text(res, i, 1);
    v.subject = text(res, i, 2);
    v.body = text(res, i, 3);
    v.starts_at = optional_int64(res, i, 4);
    v.ends_at = optional_int64(res, i, 5);
    v.interval_days = int64(res, i, 6);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

Result<void> set_vacation(PGconn* conn, const store::Vacation& v, std::int64_t now) {
  auto tx = Transaction::begin(conn);
  if (!tx) return std::unexpected(tx.error());
  auto id = lock_account(conn, v.address);
  if (!id) return std::unexpected(id.error());
  auto set = pgschema::query(
      conn,
      "INSERT INTO vacations(account_id, subject, body, starts_at, ends_at, interval_days,"
      " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id) DO UPDATE SET"
      " subject = excluded.subject, body = excluded.body, starts_at = excluded.starts_at,"
      " ends_at = excluded.ends_at, interval_days = excluded.interval_days,"
      " updated_at = excluded.updated_at",
      {{*id},
       {v.subject},
       {v.body},
       int_param(v.starts_at),
       int_param(v.ends_at),
       {std::to_string(v.interval_days)},
       {std::to_string(now)}});
  if (!set) return std::unexpected(set.error());
  auto forget =
      pgschema::query(conn, "DELETE FROM vacation_replies WHERE account_id = $1", {{*id}});
  if (!forget) return std::unexpected(forget.error());
  return tx->commit();
}

Result<bool> clear_vacation(PGconn* conn, const std::string& address) {
  auto tx = Transaction::begin(conn);
  if (!tx) return std::unexpected(tx.error());
  auto id = lock_account(conn, address);
  if (!id) return std::unexpected(id.error());
  auto removed = pgschema::query(conn, "DELETE FROM vacations WHERE account_id = $1", {{*id}});
  if (!removed) return std::unexpected(removed.error());
  auto forget =
      pgschema::query(conn, "DELETE FROM vacation_replies WHERE account_id = $1", {{*id}});
  if (!forget) return std::unexpected(forget.error());
  if (auto c = tx->commit(); !c) return std::unexpected(c.error());
  return changed(removed->get()) > 0;
}

Result<std::optional<store::Vacation>> find_vacation(PGconn* conn, const std::string& address) {
  auto found = select(conn, " WHERE a.address = $1", {{address}});
  if (!found) return std::unexpected(found.error());
  if (found->empty()) return std::optional<store::Vacation>();
  return std::optional<store::Vacation>(std::move(found->front()));
}

Result<std::vector<store::Vacation>> list_vacations(PGconn* conn) {
  return select(conn, "", {});
}

}  // namespace postroom::cli::pg
