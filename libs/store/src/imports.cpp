// The import_progress table: one row per (account, source).
#include "postroom/store/imports.hpp"

#include <ctime>

#include "postroom/store/database.hpp"

namespace postroom::store {

Result<ImportPosition> import_position(Database& db, std::int64_t account,
                                       const std::string& source) {
  auto s = db.prepare(
      "SELECT position, messages FROM import_progress WHERE account_id = ? AND source = ?");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account).bind(2, source);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return ImportPosition{};
  return ImportPosition{s->column_text(0), static_cast<int>(s->column_int(1))};
}

Result<void> save_import_position(Database& db, std::int64_t account, const std::string& source,
                                  const ImportPosition& position) {
  auto s = db.prepare(
      "INSERT INTO import_progress(account_id, source, position, messages, updated_at)"
      " VALUES (?, ?, ?, ?, ?) ON CONFLICT(account_id, source) DO UPDATE SET"
      " position = excluded.position, messages = excluded.messages,"
      " updated_at = excluded.updated_at");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account)
      .bind(2, source)
      .bind(3, position.position)
      .bind(4, position.messages)
      .bind(5, static_cast<std::int64_t>(std::time(nullptr)));
  return s->run();
}

}  // namespace postroom::store
