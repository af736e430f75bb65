// Quotas where mail arrives (config `quota`, `postroom user|domain quota`): the RCPT verdict
// for local mailboxes, and the warnings once a message is stored.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "postroom/config/config.hpp"
#include "postroom/smtp/session.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/store/recipient_facts.hpp"

namespace postroom::service {

struct Context;

store::QuotaDefaults quota_defaults(const config::Quota& quota);

// The reply for a mailbox the quota refuses (store::check_quota), or nullopt when it is ok.
struct QuotaRefusal {
  int code = 0;
  std::string enhanced;
  std::string text;
};
std::optional<QuotaRefusal> quota_refusal(const store::QuotaVerdict& verdict);

// Applies the quotas of a local recipient's mailboxes (`facts.quotas`, read with its route)
// to `verdict`: refused when any of them is full (an alias is refused whole, so a retry never
// duplicates mail to its other targets), else `quota_limited` set when any is under a limit.
// Quotas that could not be read let it through (logged): a quota must never lose mail.
void apply_quota(const std::string& session_id, std::optional<std::uint64_t> declared_size,
                 const store::RecipientFacts& facts, smtp::RecipientVerdict& verdict);

// After a message was stored for `accounts` (those under a quota): the warnings now due, in
// one write job. Nothing is answered; failures are logged.
void send_quota_warnings(Context& context, std::vector<std::int64_t> accounts);

// The warning's whole message (RFC 5322, CRLF lines), from the postmaster of the mailbox's
// (or the warned) domain.
std::string quota_warning_message(const store::QuotaWarning& warning, const std::string& hostname,
                                  std::time_t now);

}  // namespace postroom::service
