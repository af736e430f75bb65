// Turns one attempt's per-recipient results into queue updates and, when due, a bounce:
// decided here, on the loop; stored by MailStore::record_attempt in one transaction.
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
#include "postroom/store/queue.hpp"

namespace postroom::service {

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
store::AttemptRecord decide(const RecordInput& input, const config::Config& config,
                            relay::Clock::time_point now);

}  // namespace postroom::service
