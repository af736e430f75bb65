// Storing message bodies in chunks, delivering them to mailboxes and the queue, reading them back.
#include "postroom/store/messages.hpp"

#include <cstring>
#include <ctime>
#include <fstream>
#include <random>

#include "postroom/store/database.hpp"

namespace postroom::store {

namespace {

#define TRY_STMT(var, db, sql)  \
  auto var = (db).prepare(sql); \
  if (!var) return std::unexpected(var.error())

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace

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

Result<std::optional<std::string>> read_chunk(Database& db, std::int64_t content_id,
                                              std::int64_t seq) {
  TRY_STMT(s, db, "SELECT data FROM content_chunks WHERE content_id = ? AND seq = ?");
  s->bind(1, content_id).bind(2, seq);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s->column_blob(0)));
}

Result<ChunkBatch> read_chunks(Database& db, std::int64_t content_id, std::int64_t first_seq,
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

Result<std::int64_t> create_content(Database& db) {
  TRY_STMT(s, db, "INSERT INTO contents(created_at) VALUES (?)");
  s->bind(1, now());
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return db.last_insert_id();
}

Result<void> append_chunk(Database& db, std::int64_t content_id, std::int64_t seq,
                          std::string_view bytes) {
  TRY_STMT(s, db, "INSERT INTO content_chunks(content_id, seq, data) VALUES (?, ?, ?)");
  s->bind(1, content_id).bind(2, seq).bind_blob(3, bytes);
  return s->run();
}

Result<StoredMessage> complete_content(Database& db, std::int64_t content_id, std::uint64_t size,
                                       std::uint64_t pop3_size,
                                       const std::vector<std::int64_t>& accounts,
                                       const std::optional<QueueRequest>& queue) {
  {
    TRY_STMT(s, db, "UPDATE contents SET size = ?, pop3_size = ?, complete = 1 WHERE id = ?");
    s->bind(1, static_cast<std::int64_t>(size))
        .bind(2, static_cast<std::int64_t>(pop3_size))
        .bind(3, content_id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
    if (db.changes() == 0) return fail("content " + std::to_string(content_id) + " is gone");
  }
  auto t = now();
  for (auto account : accounts) {
    TRY_STMT(
        s, db,
        "INSERT INTO deliveries(account_id, content_id, uidl, delivered_at) VALUES (?, ?, ?, ?)");
    s->bind(1, account).bind(2, content_id).bind(3, random_token(15)).bind(4, t);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
  }
  StoredMessage stored{content_id, {}};
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
  if (accounts.empty() && stored.queue_id.empty()) {
    // Nothing refers to the content: drop it rather than leave an orphan.
    TRY_STMT(s, db, "DELETE FROM contents WHERE id = ?");
    s->bind(1, content_id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
  }
  return stored;
}

Result<void> discard_content(Database& db, std::int64_t content_id) {
  TRY_STMT(s, db, "DELETE FROM contents WHERE id = ? AND complete = 0");
  s->bind(1, content_id);
  return s->run();
}

Result<int> sweep_incomplete(Database& db) {
  TRY_STMT(s, db, "DELETE FROM contents WHERE complete = 0");
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return db.changes();
}

}  // namespace postroom::store
