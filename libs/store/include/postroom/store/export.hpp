// Any table of the store, read generically: `postroom migrate-store` copies each one to
// PostgreSQL without knowing its columns, so a table a later migration adds is copied too.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};
// A column's value as SQLite stored it: NULL, INTEGER, REAL, TEXT or BLOB.
using Value = std::variant<std::monostate, std::int64_t, double, std::string, Blob>;

struct TableInfo {
  std::string name;
  std::vector<std::string> columns;      // in declaration order
  std::vector<std::string> primary_key;  // in key order; empty: none declared (rowid order)
  std::vector<std::string> references;   // the other tables its foreign keys name
};

// The store's tables (not SQLite's own), each listed after the tables it refers to.
Result<std::vector<TableInfo>> list_tables(Database& db);

// Every row of `table` in primary key order (byte order for text, as memcmp), each as its
// columns' values; stops at the first error `row` returns.
Result<void> export_table(Database& db, const TableInfo& table,
                          const std::function<Result<void>(const std::vector<Value>&)>& row);

// AUTOINCREMENT's high-water marks: table -> the largest id ever handed out, which may be
// past the largest id still there (identifiers are never reused, schema 2).
Result<std::map<std::string, std::int64_t>> autoincrement_marks(Database& db);

}  // namespace postroom::store
