// Schema migrations: the numbered files of schema/, compiled into the binary.
#pragma once

#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Every migration this binary knows, in order (generated from schema/*.sql).
const std::vector<Migration>& known_migrations();

// Applies the missing migrations, each in its own transaction, and records them in
// schema_migrations. Refuses a database whose schema is newer than this binary.
Result<void> migrate(Database& db);

}  // namespace postroom::store
