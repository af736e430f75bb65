// PostgreSQL schema migrations: the numbered files of schema/postgresql/, compiled in.
#pragma once

#include <libpq-fe.h>

#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::pgschema {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Every migration this binary knows, in order (generated from schema/postgresql/*.sql).
const std::vector<Migration>& known_migrations();

// The highest version recorded in schema_migrations; 0 for a database without postroom's
// tables.
Result<int> current_version(PGconn* conn);

// Applies the missing migrations in one transaction, recording each in schema_migrations,
// and returns how many it applied. Two processes migrating at once take turns (an advisory
// lock), so the second finds nothing left to do. Refuses a database whose schema is newer
// than this binary. The connection must not be inside a transaction.
Result<int> migrate(PGconn* conn);

}  // namespace postroom::pgschema
