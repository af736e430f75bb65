// Routing a recipient as statements of a unit: alias expansion one lookup per local address,
// as store::resolve_recipient does it.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "postroom/pgstore/unit.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::pgstore {

struct Expansion {
  store::DomainTest is_local_domain;
  std::set<std::string> seen;
  store::Route route;
};

std::string_view domain_part(std::string_view address);

// Queues the lookups that expand `address` (in a local domain) into `x->route`; each
// lookup queues those of the targets it finds (depth first, loops and depth over 10 cut).
void expand(const std::shared_ptr<Expansion>& x, const std::string& address, int depth,
            Steps& steps);

// After the expansion ran: local when anything was found, else unknown.
void settle(store::Route& route);

}  // namespace postroom::pgstore
