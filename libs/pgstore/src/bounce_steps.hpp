// A message from the null sender for one address (a bounce, an away reply) as statements of
// a unit, as store::store_bounce stores it.
#pragma once

#include <memory>

#include "postroom/pgstore/unit.hpp"
#include "postroom/store/queue.hpp"

namespace postroom::pgstore {

// To the address's mailboxes (aliases expanded) or queued from the null sender; dropped for a
// local address that does not exist. `out` says where, once the unit ran.
void store_bounce(Steps& steps, store::Bounce bounce, store::DomainTest is_local_domain,
                  std::int64_t now, const std::shared_ptr<store::BounceStored>& out);

}  // namespace postroom::pgstore
