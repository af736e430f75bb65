// Turns one attempt's per-recipient results into queue updates and, when due, a bounce:
// decided on the loop, stored in one writer job.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/relay/client_session.hpp"
#include "postroom/relay/retry.hpp"

namespace postroom::store {
class Database;
}

namespace postroom::service {

struct RecordedRecipient {
  std::int64_t row = 0;
  std::string address;
  std::string state;  // delivered | deferred | bounced
  std::int64_t next_attempt = 0;
  std::string remote_host;
  std::string reply;
};

struct AttemptRecord {
  std::string queue_id;
  std::vector<RecordedRecipient> recipients;
  // The RFC 3464 bounce for the recipients that failed, when the sender gets one.
  std::optional<std::string> bounce;
  std::string bounce_to;  // the original sender
};

struct RecipientRow {
  std::int64_t row = 0;
  std::int64_t attempts = 0;  // finished attempts before this one
};

struct RecordInput {
  std::string queue_id;
  std::string sender;
  std::int64_t created_at = 0;     // unix seconds
  std::vector<RecipientRow> rows;  // parallel to `results`
  std::vector<relay::RecipientResult> results;
  std::string headers;  // the original header section, for the bounce
  bool headers_truncated = false;
};

// Decides each recipient's new state (RFC 5321 §4.5.4.1 retries, max_queue_age expiry)
// and composes the bounce. `now` is when the attempt ended.
AttemptRecord decide(const RecordInput& input, const config::Config& config,
                     relay::Clock::time_point now);

// The writer job: every recipient's attempt recorded and the bounce stored, atomically
// (the job's savepoint). A bounce for a local sender is delivered to its mailbox, any
// other is queued with the null sender (RFC 5321 §6.1: never bounced back).
Result<void> store_record(store::Database& db, const AttemptRecord& record, std::int64_t now,
                          const std::function<bool(std::string_view)>& is_local_domain);

}  // namespace postroom::service
