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

enum class GreylistDecision {
  pass,   // greylisting off, the client exempt, or the triplet passed
  defer,  // 451 4.7.1 now
  // The sender is allow-listed, but a sender address is easily forged: the recipient is
  // accepted, and the mail_auth filter greylists it at the end of DATA unless SPF passed for
  // the sender's domain or a DKIM signature of its organizational domain verified.
  unless_aligned,
};

// Decides for one accepted local recipient. Store errors let it through (logged):
// greylisting must never lose mail. `done` runs later on the loop, or at once when nothing
// needs looking up.
void greylist_recipient(Context& context, const std::string& peer_ip, bool mx, bool trusted,
                        bool authenticated, const std::optional<Address>& sender,
                        const Address& recipient, std::function<void(GreylistDecision)> done);

// The triplet check itself, for the end of DATA: `done(true)` lets it through.
void greylist_triplet(Context& context, const std::string& peer_ip,
                      const std::optional<Address>& sender, const Address& recipient,
                      std::function<void(bool)> done);

}  // namespace postroom::service
