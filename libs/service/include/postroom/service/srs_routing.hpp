// Where SRS meets the servers: the sender the relay gives forwarded mail, and the route of
// a bounce that comes back to an SRS address.
#pragma once

#include <string>

#include "postroom/base/address.hpp"
#include "postroom/smtp/session.hpp"

namespace postroom::service {

struct Context;

// The envelope sender to relay a queued message with: an SRS address of ours when SRS is
// on and `sender` is in another domain (the receiver checks SPF against our addresses),
// else `sender` itself (also when the SRS local part would exceed 64 octets). The queue
// keeps the original, so our own bounces go straight to it.
std::string relay_sender(const Context& context, const std::string& sender);

// For a recipient that the store does not know: when it is a valid SRS address at one of
// our domains, turns `verdict` into a local one forwarding to the original sender and
// returns true. A forged or expired SRS address stays unknown (550) and is logged.
bool route_srs_bounce(const Context& context, const Address& recipient,
                      smtp::RecipientVerdict& verdict, const std::string& session_id);

}  // namespace postroom::service
