// Away replies (RFC 3834) as stored: each mailbox's setting, and when each sender last got a
// reply, so that one reply per sender per period is decided inside the write that sends it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"

namespace postroom::store {

class Database;

struct Vacation {
  std::int64_t account = 0;
  std::string address;  // the mailbox's address (lower-case)
  std::string subject;  // "" means "Auto: " and the original subject (RFC 3834 §3.1.5)
  std::string body;     // UTF-8, CRLF line ends
  std::optional<std::int64_t> starts_at;  // unix seconds; nullopt: from now on
  std::optional<std::int64_t> ends_at;    // unix seconds, exclusive; nullopt: until turned off
  std::int64_t interval_days = 7;         // at most one reply per sender per this many days
};

// Sets (or replaces) the setting of `vacation.account`; a new setting starts with no sender
// remembered, as vacation(1) does when it is set up again.
Result<void> set_vacation(Database& db, const Vacation& vacation, std::int64_t now);
// Turns it off; false when there was none.
Result<bool> clear_vacation(Database& db, std::int64_t account);
Result<std::optional<Vacation>> find_vacation(Database& db, std::int64_t account);
Result<std::vector<Vacation>> list_vacations(Database& db);

// What a delivery needs to decide about a reply from one mailbox.
struct VacationCandidate {
  Vacation vacation;
  // The mailbox's own addresses: its address first, then the aliases that point at it.
  std::vector<std::string> own_addresses;
  std::optional<std::int64_t> last_reply;  // when `sender` last got a reply from it
};
// The mailboxes among `accounts` with a setting (active or not), each with its addresses and
// when `sender` (lower-case) last got a reply from it.
Result<std::vector<VacationCandidate>> vacations_for(Database& db,
                                                     const std::vector<std::int64_t>& accounts,
                                                     const std::string& sender);

struct VacationReply {
  std::int64_t account = 0;
  std::string to;       // the original sender (lower-case): the envelope recipient
  std::string message;  // the whole reply, CRLF lines
  std::int64_t interval_seconds = 7 * 86400;
};
enum class VacationSent {
  queued,     // queued from the null sender (RFC 3834 §3.3) to a remote sender
  delivered,  // the sender is a mailbox here
  dropped,    // the sender is a local address that no longer exists
  too_soon,   // this sender got a reply within the interval: nothing sent
};
std::string_view to_string(VacationSent sent);
struct VacationOutcome {
  VacationSent sent = VacationSent::too_soon;
  std::string queue_id;  // VacationSent::queued
};
// In the caller's transaction: checks and records the sender's last reply, then stores the
// reply as a bounce is stored (store_bounce). Deciding here, not when the setting was read,
// makes two messages from one sender arriving together get one reply.
Result<VacationOutcome> send_vacation_reply(Database& db, const VacationReply& reply,
                                            std::int64_t now, const DomainTest& is_local_domain);

}  // namespace postroom::store
