// Message contents, mailbox deliveries and queue entries: how mail is stored and read back.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/accounts.hpp"

namespace postroom::store {

class Database;

// Size of stored chunks: big enough to keep row overhead small, small enough that
// reading or writing one never matters for memory.
constexpr std::size_t kChunkSize = 256 * 1024;

// A content is named by an id that the writing session picks before its first chunk:
// never a rowid, which SQLite hands out again after a rolled-back insert, so a session
// that outlives a failed commit cannot write into someone else's message. The id is the
// time in seconds above a per-process count (kContentIdCountBits), so ids only grow.
using ContentId = std::int64_t;
inline constexpr int kContentIdCountBits = 30;
inline constexpr std::uint64_t kContentIdCountMask = (std::uint64_t{1} << kContentIdCountBits) - 1;
ContentId new_content_id();

using DomainTest = std::function<bool(std::string_view)>;

struct MailboxEntry {
  std::int64_t delivery_id = 0;
  ContentId content_id = 0;
  std::uint64_t pop3_size = 0;  // octets RETR sends (RFC 1939 §11: exact sizes)
  std::string uidl;
};

// A mailbox's messages, oldest first (by delivery id).
Result<std::vector<MailboxEntry>> list_mailbox(Database& db, std::int64_t account_id);
// The same, one message at a time, so a caller can keep them compactly; returns how many.
struct MailboxVisitor {
  // Once, before the first message: how many follow and their UIDLs' bytes in total, so the
  // caller sizes its storage once (growing by doubling would leave the freed predecessors
  // resident in the reading thread's malloc arena: about as much again as the listing).
  std::function<void(std::size_t messages, std::size_t uidl_bytes)> expect;
  std::function<void(std::int64_t delivery_id, std::uint64_t pop3_size, std::string_view uidl)>
      each;
};
// One snapshot for the count and the listing. A big listing's pages leave the connection's
// cache afterwards: they are the session's memory, not the next reader's.
Result<std::size_t> visit_mailbox(Database& db, std::int64_t account_id,
                                  const MailboxVisitor& visitor);
// The content of one of an account's deliveries (0 when it is not the account's).
Result<ContentId> content_of(Database& db, std::int64_t account_id, std::int64_t delivery_id);
// Chunk `seq` (0-based) of a content, or nullopt past its end.
Result<std::optional<std::string>> read_chunk(Database& db, ContentId content_id, std::int64_t seq);
// Consecutive chunks of a content from `first_seq` on, stopping once `max_bytes` are
// gathered (at least one chunk is returned when any is left): one read, one statement.
struct ChunkBatch {
  std::vector<std::string> chunks;
  bool complete = false;  // the content's last chunk is in `chunks` (or there was none left)
};
Result<ChunkBatch> read_chunks(Database& db, ContentId content_id, std::int64_t first_seq,
                               std::size_t max_bytes);
// Reads `contents` whole, in order, while they fit in `budget` bytes; stops at the first
// that does not fit or cannot be read (its own read reports that).
using WholeMessages = std::vector<std::pair<ContentId, std::string>>;
void read_whole(Database& db, const std::vector<ContentId>& contents, std::size_t budget,
                WholeMessages& out);
// Removes the given deliveries of one account (POP3 UPDATE); returns how many went.
Result<int> delete_deliveries(Database& db, std::int64_t account_id,
                              const std::vector<std::int64_t>& delivery_ids);

// Counts octets as stored and as POP3 sends them (bare LF becomes CRLF) across chunks.
class SizeCounter {
 public:
  void add(std::string_view bytes);
  std::uint64_t size() const { return size_; }
  // RFC 1939 §11: the exact octets RETR sends before dot-stuffing. A last line
  // without its line end gets one on the wire (the reply must end in CRLF.CRLF),
  // so it is counted here too.
  std::uint64_t pop3_size() const {
    std::uint64_t missing_end = (size_ == 0 || last_ == '\n') ? 0 : (last_ == '\r' ? 1 : 2);
    return size_ + bare_lf_ + missing_end;
  }

 private:
  std::uint64_t size_ = 0;
  std::uint64_t bare_lf_ = 0;
  char last_ = 0;
};

// What the committing transaction checks a content against: exactly `chunks` chunks,
// numbered from 0 without a gap, holding `size` octets in all.
struct ContentSummary {
  std::int64_t chunks = 0;
  std::uint64_t size = 0;
  std::uint64_t pop3_size = 0;
};

// The one way a message is cut into stored chunks, wherever it comes from (SMTP, a
// bounce, an import): full chunks leave as they fill, the rest at finish().
class MessageChunker {
 public:
  // `first_seq` 1: chunk 0 (the header section, final only at the end) is written apart.
  explicit MessageChunker(std::int64_t first_seq = 0) : chunks_(first_seq) {}
  // Appends bytes; each chunk that fills is handed to `full` with its sequence number.
  void add(std::string_view bytes, const std::function<void(std::int64_t, std::string)>& full);
  // The sequence number and bytes of the last chunk (empty when the message ended on a
  // chunk boundary); afterwards summary() describes the whole message.
  std::pair<std::int64_t, std::string> finish();
  ContentSummary summary() const { return {chunks_, sizes_.size(), sizes_.pop3_size()}; }
  // Sequence number of the next full chunk: chunks handed out, plus `first_seq`.
  std::int64_t chunks_handed_out() const { return chunks_; }

 private:
  std::string buffer_;
  SizeCounter sizes_;
  std::int64_t chunks_ = 0;
};

struct QueueRequest {
  std::string sender;  // '' for the null reverse-path
  std::vector<std::string> recipients;
  bool smtputf8 = false;
  bool body_8bit = false;
};

// Where a committed message goes.
struct Destination {
  std::vector<std::int64_t> accounts;  // local mailboxes
  std::optional<QueueRequest> queue;   // remote recipients
};

struct StoredMessage {
  ContentId content_id = 0;
  std::string queue_id;  // empty when nothing was queued
};

// Writing a message happens in steps so that a large body never sits in memory:
// start_content, append_chunk for each chunk, then commit_content in the transaction
// that acknowledges it. commit_content refuses (and so fails the acknowledgement) unless
// the content is still open, was started under this id, and holds exactly the chunks
// and octets of `summary`: a chunk lost with a failed batch fails the message instead
// of leaving a damaged one. Contents never committed are removed by discard_content or
// sweep_incomplete.
Result<void> start_content(Database& db, ContentId content_id);
Result<void> append_chunk(Database& db, ContentId content_id, std::int64_t seq,
                          std::string_view bytes);
Result<StoredMessage> commit_content(Database& db, ContentId content_id,
                                     const ContentSummary& summary, const Destination& destination);
// Drops a content that was never committed (a message aborted mid-transfer).
Result<void> discard_content(Database& db, ContentId content_id);
// Drops every uncommitted content created before `created_before` (unix seconds); at
// start, everything uncommitted (pass INT64_MAX): no session is writing yet.
Result<int> sweep_incomplete(Database& db, std::int64_t created_before);

// A whole message written inside the caller's transaction (an import, a bounce): the
// same chunking and the same checks as the server's sessions.
class MessageWriter {
 public:
  explicit MessageWriter(Database& db) : db_(db) {}
  Result<void> begin();
  Result<void> add(std::string_view bytes);
  Result<StoredMessage> commit(const Destination& destination);
  std::uint64_t size() const { return chunker_.summary().size; }

 private:
  Database& db_;
  ContentId id_ = 0;
  MessageChunker chunker_;
  Result<void> status_{};
};

// Where a message from the null sender to `route` goes: its mailboxes, and the queue for its
// remote addresses (SMTPUTF8 when one of them needs it).
Destination null_sender_destination(const Route& route);

// A whole message from the null sender (a bounce, a notice, a warning) in the caller's
// transaction: it gets the "Return-Path: <>" trace line a local delivery adds (RFC 5321
// §4.4; the relay strips it again), so that it is never bounced back. A queued copy is
// marked 8-bit when the message is.
Result<StoredMessage> store_from_null_sender(Database& db, std::string_view message,
                                             Destination destination);

// A random token of printable characters (UIDLs, queue IDs): never reused, even after a
// backup restore, because it is not a counter.
std::string random_token(std::size_t bytes);

}  // namespace postroom::store
