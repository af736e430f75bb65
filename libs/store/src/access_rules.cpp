// The allow and block lists in SQLite (schema 0006).
#include "postroom/store/access_rules.hpp"
#include "sql_try.hpp"

#include <ctime>

namespace postroom::store {

std::string_view list_name(AccessRule::List list) {
  return list == AccessRule::List::allow ? "allow" : "block";
}

std::string_view kind_name(AccessRule::Kind kind) {
  switch (kind) {
    case AccessRule::Kind::address:
      return "address";
    case AccessRule::Kind::domain:
      return "domain";
    case AccessRule::Kind::network:
      return "network";
  }
  return "address";
}

namespace {

std::string describe(const AccessRule& rule) {
  return std::string(list_name(rule.list)) + " " + std::string(kind_name(rule.kind)) + " " +
         rule.value + (rule.scope.empty() ? "" : " for " + rule.scope);
}

}  // namespace

Result<void> add_access_rule(Database& db, const AccessRule& rule) {
  TRY_STMT(s, db,
           "INSERT OR IGNORE INTO access_rules(list, kind, value, scope, created) "
           "VALUES (?, ?, ?, ?, ?)");
  s->bind(1, list_name(rule.list))
      .bind(2, kind_name(rule.kind))
      .bind(3, rule.value)
      .bind(4, rule.scope)
      .bind(5, static_cast<std::int64_t>(std::time(nullptr)));
  if (auto r = s->run(); !r) return r;
  if (db.changes() == 0) return fail("there is already a rule: " + describe(rule));
  return {};
}

Result<void> delete_access_rule(Database& db, const AccessRule& rule) {
  TRY_STMT(s, db,
           "DELETE FROM access_rules WHERE list = ? AND kind = ? AND value = ? AND scope = ?");
  s->bind(1, list_name(rule.list))
      .bind(2, kind_name(rule.kind))
      .bind(3, rule.value)
      .bind(4, rule.scope);
  if (auto r = s->run(); !r) return r;
  if (db.changes() == 0) return fail("no such rule: " + describe(rule));
  return {};
}

AccessRule access_rule_from(std::string_view list, std::string_view kind, std::string value,
                            std::string scope) {
  AccessRule r;
  r.list = list == "block" ? AccessRule::List::block : AccessRule::List::allow;
  r.kind = kind == "domain"    ? AccessRule::Kind::domain
           : kind == "network" ? AccessRule::Kind::network
                               : AccessRule::Kind::address;
  r.value = std::move(value);
  r.scope = std::move(scope);
  return r;
}

Result<std::vector<AccessRule>> list_access_rules(Database& db) {
  TRY_STMT(s, db,
           "SELECT list, kind, value, scope FROM access_rules "
           "ORDER BY list, scope, kind, value");
  std::vector<AccessRule> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    AccessRule r = access_rule_from(s->column_text(0), s->column_text(1), s->column_text(2),
                                    s->column_text(3));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace postroom::store
