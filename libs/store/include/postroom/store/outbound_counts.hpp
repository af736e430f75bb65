// What each sender has sent out lately (the outbound limits), kept across restarts, and
// the notice a postmaster gets when a sender reaches a limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

// A snapshot of the rows to write (absolute values, not increments) or the rows read back.
struct OutboundCounts {
  struct Bucket {
    std::string subject;
    std::int64_t bucket = 0;  // unix seconds / bucket length
    std::int64_t messages = 0;
  };
  struct Recipient {
    std::string subject;
    std::string recipient;
    std::int64_t first_seen = 0;  // unix seconds
  };
  struct Notice {
    std::string subject;
    std::int64_t day = 0;  // unix seconds / 86400
  };
  std::vector<Bucket> buckets;
  std::vector<Recipient> recipients;
  std::vector<Notice> notices;
};

// Every row at or after `since` (unix seconds; notices of this day and later).
Result<OutboundCounts> load_outbound_counts(Database& db, std::int64_t since,
                                            std::int64_t bucket_seconds);
// Writes `changes` (replacing rows with the same key) and removes rows older than
// `prune_before`, in the caller's transaction.
Result<void> save_outbound_counts(Database& db, const OutboundCounts& changes,
                                  std::int64_t prune_before, std::int64_t bucket_seconds);

// Stores `message` (a whole RFC 5322 message, CRLF lines) for the postmaster of
// `local_domains` (the first one's; RFC 5321 §4.5.1), in its mailbox or, when it is an
// alias for another domain, queued from the null sender. False when there is no
// postmaster to give it to.
Result<bool> deliver_to_postmaster(Database& db, const std::string& message,
                                   const std::vector<std::string>& local_domains);

}  // namespace postroom::store
