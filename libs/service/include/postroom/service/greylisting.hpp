// Greylisting at RCPT (config `greylisting`): a new (client network, sender, recipient)
// triplet is deferred with 451 4.7.1; a retry after the window passes.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "postroom/base/address.hpp"

namespace postroom::service {

struct Context;

// The network a client is greylisted by: its /24 (IPv4) or /64 (IPv6), so a sender's pool of
// outgoing servers retries as one; "" when `ip` is not numeric.
std::string greylist_network(const std::string& ip);

// Decides for one accepted local recipient: `done(true)` lets it through (greylisting off,
// a client or sender exempt, or the triplet passed), `done(false)` defers it. Store errors
// let it through (logged): greylisting must never lose mail. `done` runs later on the loop,
// or at once when nothing needs looking up.
void greylist_recipient(Context& context, const std::string& peer_ip, bool mx, bool trusted,
                        bool authenticated, const std::optional<Address>& sender,
                        const Address& recipient, std::function<void(bool)> done);

}  // namespace postroom::service
