// Storing message bodies in chunks, delivering them to mailboxes and the queue, reading them back.
#include "postroom/store/messages.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>

#include "postroom/store/database.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace

ContentId new_content_id() {
  // Ordered by time: a new content goes at the right edge of the contents table and of the
  // indexes on content ids, pages that stay cached. Random ids put every message on a
  // random page of each, and in a store of many gigabytes those pages no longer fit any
  // cache: each delivery read and rewrote three more pages.
  // Below the seconds, a count from a random start per process: never the same id twice
  // in one process (the clock may step back; the count goes on), and another process (an
  // import beside the daemon) meets an id of ours only if both count through the same
  // values in the same second, which the primary key then refuses.
  static const std::uint64_t start = [] {
    std::random_device device;  // getrandom(2) on Linux
    return (static_cast<std::uint64_t>(device()) << 32 | device()) & kContentIdCountMask;
  }();
  static std::atomic<std::uint64_t> last{0};
  auto seconds = static_cast<std::uint64_t>(std::time(nullptr)) & 0xffff'ffffULL;
  std::uint64_t floor = seconds << kContentIdCountBits | start;
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    next = std::max(prev + 1, floor);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return static_cast<ContentId>(next);  // 32 + 30 bits: positive, never 0
}

std::string random_token(std::size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";  // base32, lower-case
  thread_local std::random_device device;                                // getrandom(2) on Linux
  std::string out;
  std::uint64_t pool = 0;
  int bits = 0;
  for (std::size_t i = 0; i < bytes * 8 / 5 + 1; ++i) {
    if (bits < 5) {
      pool = (static_cast<std::uint64_t>(device()) << 32) | device();
      bits = 64;
    }
    out.push_back(kDigits[pool & 31]);
    pool >>= 5;
    bits -= 5;
  }
  return out;
}

void SizeCounter::add(std::string_view bytes) {
  if (bytes.empty()) return;
  // memchr from LF to LF: messages are mostly CRLF text, so this is a handful of calls.
  const char* data = bytes.data();
  const char* end = data + bytes.size();
  for (const char* lf = data; (lf = static_cast<const char*>(std::memchr(lf, '\n', end - lf)));
       ++lf) {
    char before = lf == data ? last_ : lf[-1];
    if (before != '\r') ++bare_lf_;
  }
  last_ = bytes.back();
  size_ += bytes.size();
}

Result<std::vector<MailboxEntry>> list_mailbox(Database& db, std::int64_t account_id) {
  TRY_STMT(s, db,
           "SELECT d.id, d.content_id, c.pop3_size, d.uidl FROM deliveries d"
           " JOIN contents c ON c.id = d.content_id WHERE d.account_id = ? ORDER BY d.id");
  s->bind(1, account_id);
  std::vector<MailboxEntry> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back({s->column_int(0), s->column_int(1), static_cast<std::uint64_t>(s->column_int(2)),
                   s->column_text(3)});
  }
  return out;
}

namespace {
Result<std::size_t> visit_snapshot(Database& db, std::int64_t account_id,
                                   const MailboxVisitor& visitor) {
  auto snapshot = ReadTransaction::begin(db);
  if (!snapshot) return std::unexpected(snapshot.error());
  {
    TRY_STMT(count, db,
             "SELECT count(*), coalesce(sum(length(CAST(uidl AS BLOB))), 0) FROM deliveries"
             " WHERE account_id = ?");
    count->bind(1, account_id);
    auto row = count->step();
    if (!row) return std::unexpected(row.error());
    if (visitor.expect)
      visitor.expect(static_cast<std::size_t>(count->column_int(0)),
                     static_cast<std::size_t>(count->column_int(1)));
  }
  TRY_STMT(s, db,
           "SELECT d.id, c.pop3_size, d.uidl FROM deliveries d"
           " JOIN contents c ON c.id = d.content_id WHERE d.account_id = ? ORDER BY d.id");
  s->bind(1, account_id);
  std::size_t count = 0;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return count;
    visitor.each(s->column_int(0), static_cast<std::uint64_t>(s->column_int(1)), s->column_blob(2));
    ++count;
  }
}
}  // namespace

Result<std::size_t> visit_mailbox(Database& db, std::int64_t account_id,
                                  const MailboxVisitor& visitor) {
  auto listed = visit_snapshot(db, account_id, visitor);
  // 10,000 rows of a join fill the reader's 512 KiB page cache (writer.cpp).
  constexpr std::size_t kBigListing = 10000;
  if (listed && *listed >= kBigListing) {
    db.release_memory();
    // Freed pages stay resident in this thread's arena until trimmed; the session that
    // asked keeps only its snapshot.
    ::malloc_trim(0);
  }
  return listed;
}

Result<ContentId> content_of(Database& db, std::int64_t account_id, std::int64_t delivery_id) {
  TRY_STMT(s, db, "SELECT content_id FROM deliveries WHERE id = ? AND account_id = ?");
  s->bind(1, delivery_id).bind(2, account_id);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return *row ? s->column_int(0) : ContentId{0};
}

Result<std::optional<std::string>> read_chunk(Database& db, ContentId content_id,
                                              std::int64_t seq) {
  TRY_STMT(s, db, "SELECT data FROM content_chunks WHERE content_id = ? AND seq = ?");
  s->bind(1, content_id).bind(2, seq);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s->column_blob(0)));
}

Result<ChunkBatch> read_chunks(Database& db, ContentId content_id, std::int64_t first_seq,
                               std::size_t max_bytes) {
  TRY_STMT(s, db, "SELECT data FROM content_chunks WHERE content_id = ? AND seq >= ? ORDER BY seq");
  s->bind(1, content_id).bind(2, first_seq);
  ChunkBatch batch;
  std::size_t bytes = 0;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) {
      batch.complete = true;
      return batch;
    }
    if (!batch.chunks.empty() && bytes >= max_bytes) return batch;  // more are left
    batch.chunks.emplace_back(s->column_blob(0));
    bytes += batch.chunks.back().size();
  }
}

Result<int> delete_deliveries(Database& db, std::int64_t account_id,
                              const std::vector<std::int64_t>& delivery_ids) {
  int removed = 0;
  for (auto id : delivery_ids) {
    TRY_STMT(s, db, "DELETE FROM deliveries WHERE id = ? AND account_id = ?");
    s->bind(1, id).bind(2, account_id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    removed += db.changes();
  }
  return removed;
}

void read_whole(Database& db, const std::vector<ContentId>& contents, std::size_t budget,
                WholeMessages& out) {
  std::size_t left = budget;
  for (auto content : contents) {
    if (left == 0) break;
    auto batch = read_chunks(db, content, 0, left);
    // Nothing at all (an empty or vanished content) is left to its own read as well.
    if (!batch || !batch->complete || batch->chunks.empty()) break;
    std::string whole;
    if (batch->chunks.size() == 1) {
      whole = std::move(batch->chunks.front());  // the usual case: no copy
    } else {
      for (auto& chunk : batch->chunks) whole += chunk;
    }
    if (whole.size() > left) break;
    left -= whole.size();
    out.emplace_back(content, std::move(whole));
  }
}

void MessageChunker::add(std::string_view bytes,
                         const std::function<void(std::int64_t, std::string)>& full) {
  sizes_.add(bytes);
  while (!bytes.empty()) {
    std::size_t take = std::min(bytes.size(), kChunkSize - buffer_.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() == kChunkSize) {
      std::string chunk = std::move(buffer_);
      buffer_.clear();
      full(chunks_++, std::move(chunk));
    }
  }
}

std::pair<std::int64_t, std::string> MessageChunker::finish() {
  std::int64_t seq = chunks_;
  if (!buffer_.empty()) ++chunks_;
  std::string last = std::move(buffer_);
  buffer_.clear();
  return {seq, std::move(last)};
}

Result<void> start_content(Database& db, ContentId content_id) {
  // The primary key refuses an id already taken: a session never shares a content.
  TRY_STMT(s, db, "INSERT INTO contents(id, created_at) VALUES (?, ?)");
  s->bind(1, content_id).bind(2, now());
  return s->run();
}

Result<void> append_chunk(Database& db, ContentId content_id, std::int64_t seq,
                          std::string_view bytes) {
  // The foreign key refuses a chunk whose content is gone (its start was rolled back).
  TRY_STMT(s, db, "INSERT INTO content_chunks(content_id, seq, data) VALUES (?, ?, ?)");
  s->bind(1, content_id).bind(2, seq).bind_blob(3, bytes);
  return s->run();
}

namespace {

// The seal: the content is open, and its chunks are exactly those the session sent.
// length() of a blob reads the record header only, not the chunk's pages.
Result<void> seal_content(Database& db, ContentId content_id, const ContentSummary& summary) {
  {
    TRY_STMT(s, db,
             "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(min(seq), 0),"
             " coalesce(max(seq), -1) FROM content_chunks WHERE content_id = ?");
    s->bind(1, content_id);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    std::int64_t chunks = s->column_int(0), bytes = s->column_int(1);
    std::int64_t first = s->column_int(2), last = s->column_int(3);
    if (chunks != summary.chunks || bytes != static_cast<std::int64_t>(summary.size) ||
        first != 0 || last != summary.chunks - 1)
      return fail("message content " + std::to_string(content_id) +
                  " is incomplete: " + std::to_string(chunks) + " chunk(s) of " +
                  std::to_string(bytes) + " octets stored, " + std::to_string(summary.chunks) +
                  " of " + std::to_string(summary.size) + " sent");
  }
  TRY_STMT(s, db,
           "UPDATE contents SET size = ?, pop3_size = ?, chunks = ?, complete = 1"
           " WHERE id = ? AND complete = 0");
  s->bind(1, static_cast<std::int64_t>(summary.size))
      .bind(2, static_cast<std::int64_t>(summary.pop3_size))
      .bind(3, summary.chunks)
      .bind(4, content_id);
  if (auto r = s->run(); !r) return r;
  if (db.changes() != 1)
    return fail("message content " + std::to_string(content_id) +
                " is not an open content of this session");
  return {};
}

// A delivery's UIDL: the time in seconds as 7 base-32 digits, then 18 random ones (90 bits),
// 25 characters. Unique without a count, never reused even after a backup is restored, and
// in time order, so a new delivery's entry in the UIDL index goes on the index's last pages
// rather than on a random one (which, in a big store, no cache holds).
std::string new_uidl(std::int64_t seconds) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";  // as random_token's
  std::string out(7, '0');
  auto left = static_cast<std::uint64_t>(seconds);
  for (int i = 6; i >= 0; --i, left >>= 5) out[static_cast<std::size_t>(i)] = kDigits[left & 31];
  return out + random_token(11);
}

}  // namespace

Result<StoredMessage> commit_content(Database& db, ContentId content_id,
                                     const ContentSummary& summary,
                                     const Destination& destination) {
  if (auto sealed = seal_content(db, content_id, summary); !sealed)
    return std::unexpected(sealed.error());
  auto t = now();
  for (auto account : destination.accounts) {
    // A mailbox deleted (or being deleted) since its recipient was checked takes nothing.
    TRY_STMT(s, db,
             "INSERT INTO deliveries(account_id, content_id, uidl, delivered_at)"
             " SELECT id, ?, ?, ? FROM accounts WHERE id = ? AND deleting = 0");
    s->bind(1, content_id).bind(2, new_uidl(t)).bind(3, t).bind(4, account);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    if (db.changes() != 1) return fail("mailbox " + std::to_string(account) + " no longer exists");
  }
  StoredMessage stored{content_id, {}};
  const auto& queue = destination.queue;
  if (queue && !queue->recipients.empty()) {
    stored.queue_id = random_token(10);
    TRY_STMT(s, db,
             "INSERT INTO queue(queue_id, content_id, sender, smtputf8, body_8bit, created_at)"
             " VALUES (?, ?, ?, ?, ?, ?)");
    s->bind(1, stored.queue_id)
        .bind(2, content_id)
        .bind(3, queue->sender)
        .bind(4, queue->smtputf8 ? 1 : 0)
        .bind(5, queue->body_8bit ? 1 : 0)
        .bind(6, t);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    auto queue_row = db.last_insert_id();
    for (const auto& rcpt : queue->recipients) {
      TRY_STMT(r, db,
               "INSERT INTO queue_recipients(queue_row, recipient, next_attempt) VALUES (?, ?, ?)");
      r->bind(1, queue_row).bind(2, rcpt).bind(3, t);
      if (auto run = r->run(); !run) return std::unexpected(run.error());
    }
  }
  if (destination.accounts.empty() && stored.queue_id.empty()) {
    // Nothing refers to the content: drop it rather than leave an orphan.
    TRY_STMT(s, db, "DELETE FROM contents WHERE id = ?");
    s->bind(1, content_id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
  }
  return stored;
}

Result<void> discard_content(Database& db, ContentId content_id) {
  TRY_STMT(s, db, "DELETE FROM contents WHERE id = ? AND complete = 0");
  s->bind(1, content_id);
  return s->run();
}

Result<int> sweep_incomplete(Database& db, std::int64_t created_before) {
  TRY_STMT(s, db, "DELETE FROM contents WHERE complete = 0 AND created_at < ?");
  s->bind(1, created_before);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return db.changes();
}

Result<void> MessageWriter::begin() {
  id_ = new_content_id();
  chunker_ = MessageChunker();
  status_ = start_content(db_, id_);
  return status_;
}

Result<void> MessageWriter::add(std::string_view bytes) {
  if (!status_) return status_;
  chunker_.add(bytes, [this](std::int64_t seq, std::string chunk) {
    if (status_) status_ = append_chunk(db_, id_, seq, chunk);
  });
  return status_;
}

Result<StoredMessage> MessageWriter::commit(const Destination& destination) {
  if (!status_) return std::unexpected(status_.error());
  auto [seq, last] = chunker_.finish();
  if (!last.empty()) {
    if (auto r = append_chunk(db_, id_, seq, last); !r) return std::unexpected(r.error());
  }
  return commit_content(db_, id_, chunker_.summary(), destination);
}

namespace {

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

Destination null_sender_destination(const Route& route) {
  Destination destination;
  destination.accounts = route.accounts;
  if (!route.remote.empty()) {
    QueueRequest request;  // sender "": the null reverse-path
    request.recipients = route.remote;
    request.smtputf8 = std::any_of(route.remote.begin(), route.remote.end(),
                                   [](const std::string& a) { return !is_ascii(a); });
    destination.queue = std::move(request);
  }
  return destination;
}

Result<StoredMessage> store_from_null_sender(Database& db, std::string_view message,
                                             Destination destination) {
  if (destination.queue) destination.queue->body_8bit = !is_ascii(message);
  MessageWriter writer(db);
  if (auto r = writer.begin(); !r) return std::unexpected(r.error());
  if (auto r = writer.add("Return-Path: <>\r\n"); !r) return std::unexpected(r.error());
  if (auto r = writer.add(message); !r) return std::unexpected(r.error());
  return writer.commit(destination);
}

}  // namespace postroom::store
