// Message contents, mailbox deliveries and queue entries: how mail is stored and read back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

// Size of stored chunks: big enough to keep row overhead small, small enough that
// reading or writing one never matters for memory.
constexpr std::size_t kChunkSize = 256 * 1024;

struct MailboxEntry {
  std::int64_t delivery_id = 0;
  std::int64_t content_id = 0;
  std::uint64_t pop3_size = 0;  // octets RETR sends (RFC 1939 §11: exact sizes)
  std::string uidl;
};

// A mailbox's messages, oldest first.
Result<std::vector<MailboxEntry>> list_mailbox(Database& db, std::int64_t account_id);
// Chunk `seq` (0-based) of a content, or nullopt past its end.
Result<std::optional<std::string>> read_chunk(Database& db, std::int64_t content_id,
                                              std::int64_t seq);
// Consecutive chunks of a content from `first_seq` on, stopping once `max_bytes` are
// gathered (at least one chunk is returned when any is left): one read, one statement.
struct ChunkBatch {
  std::vector<std::string> chunks;
  bool complete = false;  // the content's last chunk is in `chunks` (or there was none left)
};
Result<ChunkBatch> read_chunks(Database& db, std::int64_t content_id, std::int64_t first_seq,
                               std::size_t max_bytes);
// Removes the given deliveries of one account (POP3 UPDATE); returns how many went.
Result<int> delete_deliveries(Database& db, std::int64_t account_id,
                              const std::vector<std::int64_t>& delivery_ids);

// Writing a message happens in steps so that a large body never sits in memory:
// create_content, then append_chunk for each full chunk, then complete_content in the
// same transaction as the deliveries and the queue entry. Contents left incomplete by a
// crash are removed by sweep_incomplete at start.
Result<std::int64_t> create_content(Database& db);
Result<void> append_chunk(Database& db, std::int64_t content_id, std::int64_t seq,
                          std::string_view bytes);

struct QueueRequest {
  std::string sender;  // '' for the null reverse-path
  std::vector<std::string> recipients;
  bool smtputf8 = false;
  bool body_8bit = false;
};

struct StoredMessage {
  std::int64_t content_id = 0;
  std::string queue_id;  // empty when nothing was queued
};

Result<StoredMessage> complete_content(Database& db, std::int64_t content_id, std::uint64_t size,
                                       std::uint64_t pop3_size,
                                       const std::vector<std::int64_t>& accounts,
                                       const std::optional<QueueRequest>& queue);
Result<int> sweep_incomplete(Database& db);
// Drops a content that was never completed (a message aborted mid-transfer).
Result<void> discard_content(Database& db, std::int64_t content_id);

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

// A random token of printable characters (UIDLs, queue IDs): never reused, even after a
// backup restore, because it is not a counter.
std::string random_token(std::size_t bytes);

}  // namespace postroom::store
