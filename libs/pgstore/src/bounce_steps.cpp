// Routing the report's recipient, then writing the report once the routing is known.
#include "bounce_steps.hpp"

#include <cctype>

#include "message_steps.hpp"
#include "routing.hpp"

namespace postroom::pgstore {

namespace {

// A statement that only orders: its check runs after every step queued before it.
constexpr Statement kAfterRouting{"", "SELECT 1"};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

void store_bounce(Steps& steps, store::Bounce bounce, store::DomainTest is_local_domain,
                  std::int64_t now, const std::shared_ptr<store::BounceStored>& out) {
  using Where = store::BounceStored::Where;
  auto x = std::make_shared<Expansion>();
  x->is_local_domain = std::move(is_local_domain);
  auto to = lower(bounce.to);
  if (x->is_local_domain(domain_part(to))) {
    expand(x, to, 0, steps);
  } else {
    x->route.remote.push_back(to);
  }
  steps.then(
      kAfterRouting, {}, [x, out, now, message = std::move(bounce.message)](Rows&, Steps& next) {
        auto& route = x->route;
        if (route.accounts.empty() && route.remote.empty()) {
          out->where = Where::dropped;
          return PgResult<void>{};
        }
        auto stored = std::make_shared<store::StoredMessage>();
        store_from_null_sender(next, message, store::null_sender_destination(route), now, stored);
        next.then(kAfterRouting, {}, [out, stored](Rows&, Steps&) {
          out->where = stored->queue_id.empty() ? Where::mailbox : Where::queue;
          out->queue_id = stored->queue_id;
          return PgResult<void>{};
        });
        return PgResult<void>{};
      });
}

}  // namespace postroom::pgstore
