// Applies schema/NNNN_*.sql in order and records each in the schema_migrations table.
#include "postroom/store/migrations.hpp"

#include <ctime>
#include <string>

#include "postroom/store/database.hpp"

namespace postroom::store {

namespace {

// Each migration in its own transaction, checked for broken references before it commits.
Result<void> apply_missing(Database& db, int version) {
  for (const Migration& m : known_migrations()) {
    if (m.version <= version) continue;
    auto tx = Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    if (auto r = db.exec(std::string(m.sql)); !r)
      return fail("migration " + std::string(m.name) + " failed: " + r.error().message);
    {
      auto check = db.prepare("PRAGMA foreign_key_check");
      if (!check) return std::unexpected(check.error());
      auto row = check->step();
      if (!row) return std::unexpected(row.error());
      if (*row)
        return fail("migration " + std::string(m.name) + " left a broken reference in table " +
                    check->column_text(0));
    }
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

}  // namespace

Result<void> migrate(Database& db) {
  auto created = db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  if (!created) return created;
  const auto& known = known_migrations();
  int latest_known = known.empty() ? 0 : known.back().version;
  int version = 0;
  {
    auto current = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!current) return std::unexpected(current.error());
    if (auto row = current->step(); !row) return std::unexpected(row.error());
    version = static_cast<int>(current->column_int(0));
  }
  if (version > latest_known)
    return fail("the database has schema version " + std::to_string(version) +
                ", newer than this postroom (which knows up to " + std::to_string(latest_known) +
                "): upgrade postroom or restore an older backup");
  if (version == latest_known) return {};
  // Rebuilding a table (CREATE new, copy, DROP old, RENAME) must not cascade the DROP into
  // the tables that refer to it: foreign keys are off while migrations run (the pragma is
  // a no-op inside a transaction, so it is set around them).
  if (auto r = db.exec("PRAGMA foreign_keys=OFF"); !r) return r;
  auto applied = apply_missing(db, version);
  auto restored = db.exec("PRAGMA foreign_keys=ON");
  if (!applied) return applied;
  return restored;
}

}  // namespace postroom::store
