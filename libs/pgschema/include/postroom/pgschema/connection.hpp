// Synchronous libpq for admin work: schema migrations and `postroom migrate-store`. The
// daemon's store talks to PostgreSQL asynchronously on its loop instead (libs/pgstore).
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::pgschema {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, ConnCloser>;

struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

// One statement parameter: text (or raw bytes when `binary`, for bytea), or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
};

// Connects with a libpq connection string; the error names the server's reason, never the
// password (libpq's messages do not carry it).
Result<Connection> connect(const std::string& conninfo);
// The same from keywords and values (config::PostgresqlStore::connection_params()), with
// expand_dbname: a dbname holding a whole connection string or URI is expanded in place.
Result<Connection> connect(const std::vector<std::pair<std::string, std::string>>& params);

// SQL text without parameters; may hold several statements (migrations, BEGIN, COMMIT).
Result<void> exec(PGconn* conn, const std::string& sql);

// One parameterised statement; the result when it succeeded (with or without rows).
Result<PgResult> query(PGconn* conn, const std::string& sql, const std::vector<Param>& params = {});

// The connection's last error, without libpq's trailing newline.
std::string last_error(PGconn* conn);

}  // namespace postroom::pgschema
