// Applies schema/NNNN_*.sql in order and records each in the schema_migrations table.
#include "postroom/store/migrations.hpp"

#include <ctime>
#include <string>

#include "postroom/store/database.hpp"

namespace postroom::store {

Result<void> migrate(Database& db) {
  auto created = db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  if (!created) return created;
  const auto& known = known_migrations();
  int latest_known = known.empty() ? 0 : known.back().version;
  auto current = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!current) return std::unexpected(current.error());
  if (auto row = current->step(); !row) return std::unexpected(row.error());
  int version = static_cast<int>(current->column_int(0));
  if (version > latest_known)
    return fail("the database has schema version " + std::to_string(version) +
                ", newer than this postroom (which knows up to " + std::to_string(latest_known) +
                "): upgrade postroom or restore an older backup");
  for (const Migration& m : known) {
    if (m.version <= version) continue;
    auto tx = Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    if (auto r = db.exec(std::string(m.sql)); !r)
      return fail("migration " + std::string(m.name) + " failed: " + r.error().message);
    auto record =
        db.prepare("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)");
    if (!record) return std::unexpected(record.error());
    record->bind(1, m.version)
        .bind(2, m.name)
        .bind(3, static_cast<std::int64_t>(std::time(nullptr)));
    if (auto r = record->run(); !r) return r;
    if (auto r = tx->commit(); !r) return r;
  }
  return {};
}

}  // namespace postroom::store
