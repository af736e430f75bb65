// An RCPT's facts in one read (recipient_facts.hpp), and the default for backends that answer
// them one operation after another.
#include "postroom/store/recipient_facts.hpp"

#include <optional>

#include "postroom/store/mail_store.hpp"
#include "postroom/store/postmaster.hpp"
#include "postroom/store/vacation.hpp"

namespace postroom::store {

Result<RecipientFacts> recipient_facts(Database& db, const Address& recipient,
                                       const std::vector<std::string>& local_domains,
                                       const QuotaDefaults& defaults) {
  auto snapshot = ReadTransaction::begin_unless_in_one(db);
  if (!snapshot) return std::unexpected(snapshot.error());
  RecipientFacts facts;
  auto route = resolve_with_postmaster(db, recipient, local_domains);
  if (!route) return std::unexpected(route.error());
  facts.route = std::move(*route);
  facts.may_be_away = false;
  if (facts.route.kind != Route::Kind::local || facts.route.accounts.empty()) return facts;
  if (auto quotas = mailbox_quotas(db, facts.route.accounts, defaults)) {
    facts.quotas = std::move(*quotas);
  } else {
    facts.quota_error = quotas.error().message;
  }
  for (auto account : facts.route.accounts) {
    auto away = find_vacation(db, account);
    if (!away) return std::unexpected(away.error());
    if (*away) facts.may_be_away = true;
  }
  return facts;
}

void MailStore::recipient_facts(Address recipient, std::vector<std::string> local_domains,
                                QuotaDefaults defaults, Reply<RecipientFacts> done) {
  resolve_with_postmaster(
      *this, recipient, local_domains,
      [this, defaults, done = std::move(done)](Result<Route> route) mutable {
        if (!route) return done(std::unexpected(route.error()));
        RecipientFacts facts;
        facts.route = std::move(*route);
        if (facts.route.kind != Route::Kind::local || facts.route.accounts.empty())
          return done(std::move(facts));
        auto accounts = facts.route.accounts;
        mailbox_quotas(std::move(accounts), defaults,
                       [facts = std::move(facts),
                        done = std::move(done)](Result<std::vector<MailboxQuota>> quotas) mutable {
                         if (quotas) {
                           facts.quotas = std::move(*quotas);
                         } else {
                           facts.quota_error = quotas.error().message;
                         }
                         done(std::move(facts));
                       });
      });
}

}  // namespace postroom::store
