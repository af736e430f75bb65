// The postmaster every mail domain must have (RFC 5321 §4.5.1), resolved like any recipient.
#pragma once

#include <string>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::store {

// RFC 5321 §4.5.1 requires "postmaster" at every local domain and "<postmaster>" without a
// domain. postroom reads them so: "<postmaster>" is postmaster@ the first local domain (the
// main postmaster); postmaster@ any other local domain is its own mailbox or alias when one
// exists, else the main postmaster. Only the main postmaster must be created by the admin
// (postmaster_missing() says whether it was).
//
// The addresses to look `recipient` up as, in order; the first that resolves is the route.
// `local_domains` are lower-case, the first is the main one. Any other recipient: itself.
std::vector<std::string> lookup_order(const Address& recipient,
                                      const std::vector<std::string>& local_domains);

// resolve_recipient() over lookup_order(): the first route that is not unknown, else the
// last answer.
Result<Route> resolve_with_postmaster(Database& db, const Address& recipient,
                                      const std::vector<std::string>& local_domains);

// The same through a MailStore: one resolve_recipient() after another, `done` once.
void resolve_with_postmaster(MailStore& store, const Address& recipient,
                             const std::vector<std::string>& local_domains, Reply<Route> done);

// True when the main postmaster is neither a mailbox nor an alias: mail to postmaster is then
// refused as an unknown user, and the daemon and check-config say so.
Result<bool> postmaster_missing(Database& db, const std::vector<std::string>& local_domains);

}  // namespace postroom::store
