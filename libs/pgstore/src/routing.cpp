// Alias expansion on PostgreSQL: a mailbox ends the walk, else the alias's targets, else the
// domain's catch-all (never for postmaster and abuse, RFC 2142).
#include "routing.hpp"

#include <algorithm>

#include "postroom/pgstore/statement.hpp"

namespace postroom::pgstore {

namespace {

constexpr int kMaxAliasDepth = 10;

// One address's mailbox (kind 0), its alias targets (1) and its domain's catch-all's (2).
constexpr Statement kLookup{
    "route_lookup",
    "SELECT 0::int8, id, ''::text FROM accounts WHERE address = $1 AND deleting = 0"
    " UNION ALL SELECT 1, 0, target FROM (SELECT target FROM aliases WHERE alias = $1"
    " ORDER BY target) a"
    " UNION ALL SELECT 2, 0, target FROM (SELECT target FROM aliases WHERE alias = $2"
    " ORDER BY target) c"};

bool catch_all_skips(std::string_view address) {
  std::string_view local = address.substr(0, address.rfind('@'));
  return local == "postmaster" || local == "abuse";
}

}  // namespace

std::string_view domain_part(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

void expand(const std::shared_ptr<Expansion>& x, const std::string& address, int depth,
            Steps& steps) {
  if (!x->seen.insert(address).second || depth > kMaxAliasDepth) return;
  if (!x->is_local_domain(domain_part(address))) {
    auto& remote = x->route.remote;
    if (std::find(remote.begin(), remote.end(), address) == remote.end()) remote.push_back(address);
    return;
  }
  steps.then(kLookup, Params().add(address).add("@" + std::string(domain_part(address))),
             [x, address, depth](Rows& rows, Steps& next) -> PgResult<void> {
               std::vector<std::string> targets, catch_all;
               for (int i = 0; i < rows.size(); ++i) {
                 auto kind = rows.int64(i, 0);
                 if (kind == 0) {
                   auto id = rows.int64(i, 1);
                   auto& accounts = x->route.accounts;
                   if (std::find(accounts.begin(), accounts.end(), id) == accounts.end())
                     accounts.push_back(id);
                   return {};
                 }
                 (kind == 1 ? targets : catch_all).push_back(rows.text(i, 2));
               }
               if (targets.empty() && !catch_all_skips(address)) targets = std::move(catch_all);
               for (const auto& target : targets) expand(x, target, depth + 1, next);
               return {};
             });
}

void settle(store::Route& route) {
  // A local alias that forwards elsewhere is still a local recipient.
  bool found = !route.accounts.empty() || !route.remote.empty();
  route.kind = found ? store::Route::Kind::local : store::Route::Kind::unknown;
}

}  // namespace postroom::pgstore
