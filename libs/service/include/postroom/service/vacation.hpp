// Away replies (RFC 3834): whether a delivered message gets one from a mailbox, the reply
// itself, and the post-commit hook that queues it through the outbound queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/store/vacation.hpp"

namespace postroom::service {

struct Context;

// Why a message gets a reply, or why not; each rule cites RFC 3834.
enum class VacationReason {
  reply,             // every rule passed
  null_sender,       // MAIL FROM:<> (§2: never answer a notification)
  system_sender,     // MAILER-DAEMON, owner-*, *-request, ... (§2)
  own_address,       // the sender is one of the mailbox's own addresses (loops, §2)
  auto_submitted,    // Auto-Submitted other than "no", or another responder's marks (§2)
  list_mail,         // a List-* field (RFC 2369, RFC 2919): mail to a list (§2)
  bulk,              // Precedence: bulk, list or junk (§2)
  spam,              // flagged as spam here (X-Spam-Flag: YES): a reply would be backscatter
  inactive,          // outside the setting's from/until
  not_addressed,     // none of the mailbox's addresses in To or Cc (§2, Bcc and lists)
  replied_recently,  // this sender had a reply within the interval (§2)
};
std::string_view to_string(VacationReason reason);

// The envelope facts the rules read.
struct VacationEnvelope {
  std::optional<Address> reverse_path;  // nullopt: the null reverse-path
};

struct VacationDecision {
  VacationReason reason = VacationReason::reply;
  std::string addressed_as;  // the own address found in To/Cc: the reply's From
  bool reply() const { return reason == VacationReason::reply; }
};

// The rules that do not depend on any setting: nullopt when some mailbox might reply.
std::optional<VacationReason> excluded_message(const HeaderSection& headers,
                                               const VacationEnvelope& envelope);

// Whether `settings`' mailbox (whose addresses are `own_addresses`, lower-case) replies to
// this message at `now` (unix seconds), given when this sender last got a reply from it.
VacationDecision should_reply(const HeaderSection& headers, const VacationEnvelope& envelope,
                              const store::Vacation& settings,
                              const std::vector<std::string>& own_addresses,
                              std::optional<std::int64_t> last_reply, std::int64_t now);

// The lower-case addr-specs in an address-list field value (To, Cc): display names,
// quoted strings, comments and group syntax skipped.
std::vector<std::string> addresses_in(std::string_view value);

// The reply to `original` (RFC 3834 §3.1): From `from`, To `to`, the setting's Subject or
// "Auto: " and the original one, In-Reply-To and References from its Message-ID,
// Auto-Submitted: auto-replied, a fresh Date and Message-ID (`token`@`hostname`); the
// setting's text as text/plain UTF-8. CRLF lines, none over 998 octets.
std::string compose_vacation_reply(const HeaderSection& original, const store::Vacation& settings,
                                   std::string_view from, std::string_view to,
                                   std::string_view hostname, std::int64_t now,
                                   std::string_view token);

// What the delivery path keeps of a message for its away replies: taken before the commit
// (the connection reuses its header section for the next message), used after it.
struct AwayCandidate {
  VacationEnvelope envelope;
  std::vector<std::int64_t> accounts;  // the mailboxes here that the message reached
  HeaderSection headers;               // only the fields the rules and the reply read
};
// nullopt when no mailbox here gets the message or the message never gets a reply
// (excluded_message): then nothing is looked up after the commit.
std::optional<AwayCandidate> away_candidate(const VacationEnvelope& envelope,
                                            const std::vector<std::int64_t>& accounts,
                                            const HeaderSection& headers);
// After the delivery committed: reads the settings of the mailboxes reached, and queues a
// reply from each one whose rules pass (the store decides "once per interval" in the same
// write). Never on the SMTP reply path: the client has its answer whatever happens here.
void send_away_replies(Context& context, AwayCandidate candidate);

}  // namespace postroom::service
