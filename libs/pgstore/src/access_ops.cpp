// The allow and block lists on PostgreSQL, read for the servers' periodic refresh.
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

// The SQLite order (byte order), whatever the database's collation.
constexpr Statement kAccessRules{"access_rules",
                                 "SELECT list, kind, value, scope FROM access_rules"
                                 " ORDER BY list COLLATE \"C\", scope COLLATE \"C\","
                                 " kind COLLATE \"C\", value COLLATE \"C\""};

}  // namespace

void PgMailStore::access_rules(Reply<std::vector<AccessRule>> done) {
  auto out = std::make_shared<std::vector<AccessRule>>();
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(kAccessRules, {}, [out](Rows& r, Steps&) {
    for (int i = 0; i < r.size(); ++i)
      out->push_back(access_rule_from(r.bytes(i, 0), r.bytes(i, 1), r.text(i, 2), r.text(i, 3)));
    return PgResult<void>{};
  });
  answer(pool_, std::move(unit), out, std::move(done));
}

}  // namespace postroom::pgstore
