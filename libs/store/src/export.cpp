// Generic table reads for `postroom migrate-store`. Table and column names come from the
// database's own catalogue and are quoted as identifiers; values are never spliced in.
#include "postroom/store/export.hpp"

#include <algorithm>
#include <set>

#include "postroom/store/database.hpp"

namespace postroom::store {

namespace {

std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

Result<TableInfo> describe(Database& db, const std::string& name) {
  TableInfo t{name, {}, {}, {}};
  auto columns = db.prepare("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid");
  if (!columns) return std::unexpected(columns.error());
  columns->bind(1, name);
  std::vector<std::pair<std::int64_t, std::string>> key;
  while (true) {
    auto row = columns->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    t.columns.push_back(columns->column_text(0));
    if (auto pk = columns->column_int(1); pk > 0) key.emplace_back(pk, columns->column_text(0));
  }
  std::sort(key.begin(), key.end());
  for (auto& [position, column] : key) t.primary_key.push_back(column);
  auto refs = db.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)");
  if (!refs) return std::unexpected(refs.error());
  refs->bind(1, name);
  while (true) {
    auto row = refs->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (auto other = refs->column_text(0); other != name) t.references.push_back(other);
  }
  return t;
}

}  // namespace

Result<std::vector<TableInfo>> list_tables(Database& db) {
  std::vector<TableInfo> pending;
  std::vector<std::string> all;
  {
    auto names = db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY name");
    if (!names) return std::unexpected(names.error());
    while (true) {
      auto row = names->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      all.push_back(names->column_text(0));
    }
  }
  {
    for (const auto& name : all) {
      auto t = describe(db, name);
      if (!t) return std::unexpected(t.error());
      pending.push_back(std::move(*t));
    }
  }
  // Each table after those it refers to (the schema has no cycles).
  std::vector<TableInfo> ordered;
  std::set<std::string> placed;
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(), [&](const TableInfo& t) {
      return std::all_of(t.references.begin(), t.references.end(),
                         [&](const std::string& r) { return placed.contains(r); });
    });
    if (ready == pending.end()) return fail("the store's foreign keys form a cycle");
    placed.insert(ready->name);
    ordered.push_back(std::move(*ready));
    pending.erase(ready);
  }
  return ordered;
}

Result<void> export_table(Database& db, const TableInfo& table,
                          const std::function<Result<void>(const std::vector<Value>&)>& row) {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < table.columns.size(); ++i)
    sql += (i ? ", " : "") + quoted(table.columns[i]);
  sql += " FROM " + quoted(table.name) + " ORDER BY ";
  if (table.primary_key.empty()) sql += "rowid";
  for (std::size_t i = 0; i < table.primary_key.size(); ++i)
    sql += (i ? ", " : "") + quoted(table.primary_key[i]) + " COLLATE BINARY";
  auto s = db.prepare(sql);
  if (!s) return std::unexpected(s.error());
  std::vector<Value> values(table.columns.size());
  while (true) {
    auto more = s->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    for (std::size_t i = 0; i < values.size(); ++i) {
      int c = static_cast<int>(i);
      switch (s->column_type(c)) {
        case Statement::ColumnType::null:
          values[i] = std::monostate{};
          break;
        case Statement::ColumnType::integer:
          values[i] = s->column_int(c);
          break;
        case Statement::ColumnType::real:
          values[i] = s->column_double(c);
          break;
        case Statement::ColumnType::text:
          values[i] = s->column_text(c);
          break;
        case Statement::ColumnType::blob:
          values[i] = Blob{std::string(s->column_blob(c))};
      }
    }
    if (auto r = row(values); !r) return r;
  }
}

Result<std::map<std::string, std::int64_t>> autoincrement_marks(Database& db) {
  std::map<std::string, std::int64_t> marks;
  {
    auto exists = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'");
    if (!exists) return std::unexpected(exists.error());
    auto found = exists->step();
    if (!found) return std::unexpected(found.error());
    if (!*found) return marks;
  }
  auto s = db.prepare("SELECT name, seq FROM sqlite_sequence");
  if (!s) return std::unexpected(s.error());
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return marks;
    marks[s->column_text(0)] = s->column_int(1);
  }
}

}  // namespace postroom::store
