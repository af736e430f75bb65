// The import_progress table (one row per account and source), and keeping imported UIDLs.
#include "postroom/store/imports.hpp"

#include <algorithm>
#include <ctime>

#include "postroom/store/database.hpp"

namespace postroom::store {

Result<ImportPosition> import_position(Database& db, std::int64_t account,
                                       const std::string& source) {
  auto s = db.prepare(
      "SELECT position, messages FROM import_progress WHERE account_id = ? AND source = ?");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account).bind(2, source);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return ImportPosition{};
  return ImportPosition{s->column_text(0), static_cast<int>(s->column_int(1))};
}

Result<void> save_import_position(Database& db, std::int64_t account, const std::string& source,
                                  const ImportPosition& position) {
  auto s = db.prepare(
      "INSERT INTO import_progress(account_id, source, position, messages, updated_at)"
      " VALUES (?, ?, ?, ?, ?) ON CONFLICT(account_id, source) DO UPDATE SET"
      " position = excluded.position, messages = excluded.messages,"
      " updated_at = excluded.updated_at");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account)
      .bind(2, source)
      .bind(3, position.position)
      .bind(4, position.messages)
      .bind(5, static_cast<std::int64_t>(std::time(nullptr)));
  return s->run();
}

Result<std::optional<ContentId>> content_with_uidl(Database& db, std::int64_t account,
                                                   const std::string& uidl) {
  auto s = db.prepare("SELECT content_id FROM deliveries WHERE account_id = ? AND uidl = ?");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account).bind(2, uidl);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ContentId>{};
  return std::optional<ContentId>{s->column_int(0)};
}

Result<void> set_uidl(Database& db, std::int64_t account, ContentId content,
                      const std::string& uidl) {
  auto s = db.prepare("UPDATE deliveries SET uidl = ? WHERE account_id = ? AND content_id = ?");
  if (!s) return std::unexpected(s.error());
  s->bind(1, uidl).bind(2, account).bind(3, content);
  if (auto r = s->run(); !r) return r;
  if (db.changes() != 1) return fail("the imported message is not in the mailbox");
  return {};
}

Result<void> drop_delivery(Database& db, std::int64_t account, ContentId content) {
  auto s = db.prepare("DELETE FROM deliveries WHERE account_id = ? AND content_id = ?");
  if (!s) return std::unexpected(s.error());
  s->bind(1, account).bind(2, content);
  return s->run();
}

namespace {

// Reads one content as POP3's RETR sends it (RFC 1939 §3: CRLF line ends, the last line
// ended), whatever its chunk boundaries: a Maildir file with bare LF and the same message
// fetched over POP3 compare equal.
class ContentStream {
 public:
  ContentStream(Database& db, ContentId id) : db_(db), id_(id) {}
  // The next octets; empty at the end.
  Result<std::string_view> next() {
    out_.clear();
    while (out_.empty() && !ended_) {
      auto chunk = read_chunk(db_, id_, seq_++);
      if (!chunk) return std::unexpected(chunk.error());
      if (!*chunk) {
        ended_ = true;
        if (last_ == '\r')
          out_ = "\n";
        else if (last_ != '\n' && last_ != 0)
          out_ = "\r\n";
        break;
      }
      for (char c : **chunk) {
        if (c == '\n' && last_ != '\r') out_.push_back('\r');
        out_.push_back(c);
        last_ = c;
      }
    }
    return std::string_view(out_);
  }

 private:
  Database& db_;
  ContentId id_;
  std::int64_t seq_ = 0;
  std::string out_;
  char last_ = 0;
  bool ended_ = false;
};

}  // namespace

Result<bool> same_content(Database& db, ContentId a, ContentId b) {
  ContentStream left(db, a), right(db, b);
  std::string pending_left, pending_right;
  while (true) {
    if (pending_left.empty()) {
      auto bytes = left.next();
      if (!bytes) return std::unexpected(bytes.error());
      pending_left.assign(*bytes);
    }
    if (pending_right.empty()) {
      auto bytes = right.next();
      if (!bytes) return std::unexpected(bytes.error());
      pending_right.assign(*bytes);
    }
    if (pending_left.empty() || pending_right.empty())
      return pending_left.empty() && pending_right.empty();
    std::size_t n = std::min(pending_left.size(), pending_right.size());
    if (pending_left.compare(0, n, pending_right, 0, n) != 0) return false;
    pending_left.erase(0, n);
    pending_right.erase(0, n);
  }
}

}  // namespace postroom::store
