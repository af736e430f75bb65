// Server policy on PostgreSQL for `postroom allow|block` and `postroom retention`: the rows
// libs/store/src/access_rules.cpp and retention.cpp keep on SQLite. A running postroomd
// reads them again on its own schedule.
#include <ctime>

#include "pg_admin.hpp"

namespace postroom::cli::pg {

namespace {

std::string describe(const store::AccessRule& rule) {
  return std::string(store::list_name(rule.list)) + " " + std::string(store::kind_name(rule.kind)) +
         " " + rule.value + (rule.scope.empty() ? "" : " for " + rule.scope);
}

}  // namespace

Result<void> add_access_rule(PGconn* conn, const store::AccessRule& rule) {
  auto r = pgschema::query(conn,
                           "INSERT INTO access_rules(list, kind, value, scope, created)"
                           " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                           {{std::string(store::list_name(rule.list))},
                            {std::string(store::kind_name(rule.kind))},
                            {rule.value},
                            {rule.scope},
                            {std::to_string(std::time(nullptr))}});
  if (!r) return std::unexpected(r.error());
  if (changed(r->get()) == 0) return fail("there is already a rule: " + describe(rule));
  return {};
}

Result<void> delete_access_rule(PGconn* conn, const store::AccessRule& rule) {
  auto r = pgschema::query(conn,
                           "DELETE FROM access_rules WHERE list = $1 AND kind = $2 AND value = $3"
                           " AND scope = $4",
                           {{std::string(store::list_name(rule.list))},
                            {std::string(store::kind_name(rule.kind))},
                            {rule.value},
                            {rule.scope}});
  if (!r) return std::unexpected(r.error());
  if (changed(r->get()) == 0) return fail("no such rule: " + describe(rule));
  return {};
}

Result<std::vector<store::AccessRule>> list_access_rules(PGconn* conn) {
  auto r = pgschema::query(conn,
                           "SELECT list, kind, value, scope FROM access_rules ORDER BY"
                           " list COLLATE \"C\", scope COLLATE \"C\", kind COLLATE \"C\","
                           " value COLLATE \"C\"");
  if (!r) return std::unexpected(r.error());
  std::vector<store::AccessRule> out;
  PGresult* res = r->get();
  for (int i = 0; i < PQntuples(res); ++i)
    out.push_back(store::access_rule_from(text(res, i, 0), text(res, i, 1), text(res, i, 2),
                                          text(res, i, 3)));
  return out;
}

Result<std::vector<store::RetentionSetting>> load_retention_settings(PGconn* conn) {
  auto r = pgschema::query(conn,
                           "SELECT scope, retrieved, max_age, login_delay FROM retention_settings"
                           " ORDER BY scope COLLATE \"C\"");
  if (!r) return std::unexpected(r.error());
  std::vector<store::RetentionSetting> out;
  PGresult* res = r->get();
  for (int i = 0; i < PQntuples(res); ++i)
    out.push_back({text(res, i, 0), optional_int64(res, i, 1), optional_int64(res, i, 2),
                   optional_int64(res, i, 3)});
  return out;
}

Result<void> set_retention(PGconn* conn, const store::RetentionSetting& setting) {
  // COALESCE keeps a field the command did not name.
  auto r = pgschema::query(conn,
                           "INSERT INTO retention_settings(scope, retrieved, max_age, login_delay)"
                           " VALUES ($1, $2::bigint, $3::bigint, $4::bigint)"
                           " ON CONFLICT (scope) DO UPDATE SET"
                           " retrieved = coalesce($2::bigint, retention_settings.retrieved),"
                           " max_age = coalesce($3::bigint, retention_settings.max_age),"
                           " login_delay = coalesce($4::bigint, retention_settings.login_delay)",
                           {{setting.scope},
                            int_param(setting.retrieved),
                            int_param(setting.max_age),
                            int_param(setting.login_delay)});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<bool> clear_retention(PGconn* conn, const std::string& scope) {
  auto r = pgschema::query(conn, "DELETE FROM retention_settings WHERE scope = $1", {{scope}});
  if (!r) return std::unexpected(r.error());
  return changed(r->get()) > 0;
}

}  // namespace postroom::cli::pg
