// The outbound queue as admins see it and the relay works it: one row per recipient.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

struct QueuedRecipient {
  std::int64_t row = 0;
  std::string queue_id;
  std::string recipient;
  std::string state;  // queued | deferred
  std::int64_t attempts = 0;
  std::int64_t next_attempt = 0;  // unix seconds
  std::string last_reply;
};

struct QueueAttempt {
  std::int64_t at = 0;
  std::string remote_host;
  std::string reply;
};

struct QueuedMessage {
  std::int64_t row = 0;
  std::string queue_id;
  std::int64_t content_id = 0;
  std::string sender;
  bool smtputf8 = false;
  bool body_8bit = false;
  std::int64_t created_at = 0;
  std::uint64_t size = 0;
  std::vector<QueuedRecipient> recipients;
  std::vector<std::vector<QueueAttempt>> history;  // per recipient, oldest first
};

// Every recipient still waiting, in order of its next attempt.
Result<std::vector<QueuedRecipient>> list_queue(Database& db);
Result<std::optional<QueuedMessage>> find_queued(Database& db, const std::string& queue_id);
// Makes one message (or all) due now; returns how many recipients it touched.
Result<int> retry_queue(Database& db, const std::optional<std::string>& queue_id);
// Drops a message and its recipients without a bounce.
Result<void> delete_queued(Database& db, const std::string& queue_id);

// The relay's side: messages with a recipient due at `now`, at most `limit`.
Result<std::vector<QueuedMessage>> due_messages(Database& db, std::int64_t now, int limit);
// Records an attempt for one recipient: state "delivered", "bounced" or "deferred" with
// the next attempt time. A message with no recipient left waiting is removed.
Result<void> record_attempt(Database& db, std::int64_t recipient_row, const std::string& state,
                            std::int64_t next_attempt, const std::string& remote_host,
                            const std::string& reply, std::int64_t now);
// The earliest next_attempt of any waiting recipient, if any.
Result<std::optional<std::int64_t>> next_due(Database& db);

// A consistent copy of the live database into `file` (which must not exist).
Result<void> backup(Database& db, const std::string& file);

}  // namespace postroom::store
