// Applies schema/postgresql/NNNN_*.sql in order and records each in schema_migrations.
#include "postroom/pgschema/migrations.hpp"

#include <ctime>
#include <string>

#include "postroom/pgschema/connection.hpp"

namespace postroom::pgschema {

namespace {

// The advisory lock every postroom process takes to migrate: any constant, the same in all.
constexpr const char* kLockKey = "7370707";

Result<int> apply_missing(PGconn* conn) {
  if (auto r = query(conn, std::string("SELECT pg_advisory_xact_lock(") + kLockKey + ")"); !r)
    return std::unexpected(r.error());
  if (auto r = exec(conn,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)");
      !r)
    return std::unexpected(r.error());
  auto version = current_version(conn);
  if (!version) return version;
  const auto& known = known_migrations();
  int latest_known = known.empty() ? 0 : known.back().version;
  if (*version > latest_known)
    return fail("the PostgreSQL database has schema version " + std::to_string(*version) +
                ", newer than this postroom (which knows up to " + std::to_string(latest_known) +
                "): upgrade postroom");
  int applied = 0;
  for (const Migration& m : known) {
    if (m.version <= *version) continue;
    if (auto r = exec(conn, std::string(m.sql)); !r)
      return fail("migration postgresql/" + std::string(m.name) + " failed: " + r.error().message);
    auto record = query(conn,
                        "INSERT INTO schema_migrations(version, name, applied_at)"
                        " VALUES ($1, $2, $3)",
                        {{std::to_string(m.version)},
                         {std::string(m.name)},
                         {std::to_string(static_cast<long long>(std::time(nullptr)))}});
    if (!record) return std::unexpected(record.error());
    ++applied;
  }
  return applied;
}

}  // namespace

Result<int> current_version(PGconn* conn) {
  auto exists = query(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists) return std::unexpected(exists.error());
  if (std::string_view(PQgetvalue(exists->get(), 0, 0)) != "t") return 0;
  auto r = query(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!r) return std::unexpected(r.error());
  return std::stoi(PQgetvalue(r->get(), 0, 0));
}

Result<int> migrate(PGconn* conn) {
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    return fail("schema migrations need a connection outside any transaction");
  if (auto r = exec(conn, "BEGIN"); !r) return std::unexpected(r.error());
  auto applied = apply_missing(conn);
  if (!applied) {
    (void)exec(conn, "ROLLBACK");
    return applied;
  }
  if (auto r = exec(conn, "COMMIT"); !r) return std::unexpected(r.error());
  return applied;
}

}  // namespace postroom::pgschema
