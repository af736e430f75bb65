// Applies SRS on the way out (relay sender) and on the way back (RCPT to an SRS address).
#include "postroom/service/srs_routing.hpp"

#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/relay/srs.hpp"
#include "postroom/service/context.hpp"

namespace postroom::service {

std::string relay_sender(const Context& context, const std::string& sender) {
  if (!context.srs || sender.empty()) return sender;
  auto parsed = parse_address(sender);
  if (!parsed || context.config->is_local_domain(parsed->domain)) return sender;
  std::string rewritten = context.srs->forward(*parsed, std::time(nullptr));
  // A local part over 64 octets (RFC 5321 §4.5.3.1.1) would be refused when a bounce
  // brings it back, here and elsewhere: such a sender goes out as it is.
  if (rewritten.rfind('@') > 64) return sender;
  return rewritten;
}

bool route_srs_bounce(const Context& context, const Address& recipient,
                      smtp::RecipientVerdict& verdict, const std::string& session_id) {
  if (!context.srs || !context.config->is_local_domain(recipient.domain)) return false;
  auto reversed = context.srs->reverse(recipient.local, std::time(nullptr));
  using Verdict = relay::Srs::Verdict;
  switch (reversed.verdict) {
    case Verdict::not_srs:
      return false;
    case Verdict::forged:
    case Verdict::expired:
      log_line("session=", session_id, " srs: refused ",
               reversed.verdict == Verdict::forged ? "forged" : "expired", " address ",
               recipient.str());
      return false;
    case Verdict::valid:
      break;
  }
  auto original = parse_address(reversed.address);
  if (!original) {
    log_line("session=", session_id, " srs: ", recipient.str(),
             " holds no valid address: ", original.error().message);
    return false;
  }
  // Local with a remote target, like an alias that forwards: a bounce from the internet
  // may come back this way without AUTH.
  verdict.kind = smtp::RecipientVerdict::Kind::local;
  verdict.mailboxes.clear();
  verdict.forward_to = {original->str()};
  return true;
}

}  // namespace postroom::service
