#include "postroom/pgschema/connection.hpp"

namespace postroom::pgschema {

std::string last_error(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

namespace {

Result<Connection> opened(PGconn* raw) {
  Connection conn(raw);
  if (!conn) return fail("PostgreSQL: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return fail("cannot connect to PostgreSQL: " + last_error(conn.get()));
  // Notices ("relation already exists, skipping") are not for the admin's terminal.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

}  // namespace

Result<Connection> connect(const std::string& conninfo) {
  return opened(PQconnectdb(conninfo.c_str()));
}

Result<Connection> connect(const std::vector<std::pair<std::string, std::string>>& params) {
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return opened(PQconnectdbParams(keys.data(), values.data(), 1));
}

Result<void> exec(PGconn* conn, const std::string& sql) {
  PgResult r(PQexec(conn, sql.c_str()));
  auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(last_error(conn));
  return {};
}

Result<PgResult> query(PGconn* conn, const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const Param& p : params) {
    values.push_back(p.value ? p.value->data() : nullptr);
    lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
    formats.push_back(p.binary ? 1 : 0);
  }
  PgResult r(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                          values.data(), lengths.data(), formats.data(), 0));
  auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(last_error(conn));
  return r;
}

}  // namespace postroom::pgschema
