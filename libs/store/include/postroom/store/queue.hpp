// The outbound queue as admins see it and the relay works it: one row per recipient.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/messages.hpp"

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
// A recipient's state in the queue (the schema checks the same four words).
enum class RecipientState { queued, deferred, delivered, bounced };
std::string_view to_string(RecipientState state);

// What one delivery attempt decided for one recipient.
struct AttemptResult {
  std::int64_t row = 0;  // queue_recipients row
  std::string address;
  RecipientState state = RecipientState::deferred;
  std::int64_t next_attempt = 0;  // unix seconds (deferred)
  std::string remote_host;
  std::string reply;
};

// An RFC 3464 report for the sender, stored with the attempt it reports on.
struct Bounce {
  std::string to;       // the original sender
  std::string message;  // the whole report, CRLF lines
};

struct AttemptRecord {
  std::string queue_id;
  std::vector<AttemptResult> recipients;
  std::optional<Bounce> bounce;
};

// Records an attempt for one recipient. A message with no recipient left waiting is
// removed.
Result<void> record_attempt(Database& db, const AttemptResult& result, std::int64_t now);

// Where a bounce went.
struct BounceStored {
  enum class Where { none, dropped, mailbox, queue } where = Where::none;
  std::string queue_id;  // Where::queue
};

// Stores a message from the null sender (a bounce, an away reply) for `bounce.to`, in the
// caller's transaction, as record_attempts does below.
Result<BounceStored> store_bounce(Database& db, const Bounce& bounce,
                                  const DomainTest& is_local_domain);

// Every recipient's result and the bounce, in the caller's transaction. A bounce to a
// local sender goes to its mailbox (aliases expanded); any other is queued from the null
// sender (RFC 5321 §6.1: a bounce is never bounced); a local sender that no longer
// exists gets none (dropped).
Result<BounceStored> record_attempts(Database& db, const AttemptRecord& record, std::int64_t now,
                                     const DomainTest& is_local_domain);
// The earliest next_attempt of any waiting recipient, if any.
Result<std::optional<std::int64_t>> next_due(Database& db);

// A consistent copy of the live database into `file` (which must not exist).
Result<void> backup(Database& db, const std::string& file);

}  // namespace postroom::store
