// What an RCPT needs to know of one recipient, in one read: its route, the quota standing of
// its mailboxes, and whether any of them has an away reply set.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/base/error.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/quotas.hpp"

namespace postroom::store {

struct RecipientFacts {
  Route route;  // resolve_with_postmaster over the local domains
  // mailbox_quotas of route.accounts; read only for a local route with mailboxes.
  std::vector<MailboxQuota> quotas;
  // Why the quotas could not be read, if they could not: the mail is then let through.
  std::optional<std::string> quota_error;
  // False only when it is known that none of route.accounts has an away reply set, so the
  // lookup after the delivery (vacations_for) can be left out.
  bool may_be_away = true;
};

// One snapshot of all three (the SQLite backend answers an RCPT with a single pool job).
Result<RecipientFacts> recipient_facts(Database& db, const Address& recipient,
                                       const std::vector<std::string>& local_domains,
                                       const QuotaDefaults& defaults);

}  // namespace postroom::store
