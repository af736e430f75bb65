// Queue rows for the admin tool and the relay, and online backup.
#include "postroom/store/queue.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "sql_try.hpp"

namespace postroom::store {

namespace {

constexpr const char* kRecipientColumns =
    "SELECT r.id, q.queue_id, r.recipient, r.state, r.attempts, r.next_attempt, r.last_reply"
    " FROM queue_recipients r JOIN queue q ON q.id = r.queue_row";

QueuedRecipient read_recipient(Statement& s) {
  return {s.column_int(0), s.column_text(1), s.column_text(2), s.column_text(3),
          s.column_int(4), s.column_int(5),  s.column_text(6)};
}

Result<std::vector<QueuedRecipient>> collect(Statement& s) {
  std::vector<QueuedRecipient> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(read_recipient(s));
  }
}

Result<void> load_message(Database& db, QueuedMessage& m, bool with_history) {
  {
    TRY_STMT(s, db,
             std::string(kRecipientColumns) +
                 " WHERE r.queue_row = ? AND r.state IN ('queued', 'deferred') ORDER BY r.id");
    s->bind(1, m.row);
    auto rows = collect(*s);
    if (!rows) return std::unexpected(rows.error());
    m.recipients = std::move(*rows);
  }
  if (!with_history) return {};
  for (const auto& r : m.recipients) {
    TRY_STMT(
        h, db,
        "SELECT at, remote_host, reply FROM queue_history WHERE recipient_row = ? ORDER BY id");
    h->bind(1, r.row);
    std::vector<QueueAttempt> attempts;
    while (true) {
      auto row = h->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      attempts.push_back({h->column_int(0), h->column_text(1), h->column_text(2)});
    }
    m.history.push_back(std::move(attempts));
  }
  return {};
}

constexpr const char* kMessageColumns =
    "SELECT q.id, q.queue_id, q.content_id, q.sender, q.smtputf8, q.body_8bit, q.created_at,"
    " c.size FROM queue q JOIN contents c ON c.id = q.content_id";

QueuedMessage read_message(Statement& s) {
  QueuedMessage m;
  m.row = s.column_int(0);
  m.queue_id = s.column_text(1);
  m.content_id = s.column_int(2);
  m.sender = s.column_text(3);
  m.smtputf8 = s.column_int(4) != 0;
  m.body_8bit = s.column_int(5) != 0;
  m.created_at = s.column_int(6);
  m.size = static_cast<std::uint64_t>(s.column_int(7));
  return m;
}

}  // namespace

Result<std::vector<QueuedRecipient>> list_queue(Database& db) {
  TRY_STMT(s, db,
           std::string(kRecipientColumns) +
               " WHERE r.state IN ('queued', 'deferred') ORDER BY r.next_attempt, r.id");
  return collect(*s);
}

Result<std::optional<QueuedMessage>> find_queued(Database& db, const std::string& queue_id) {
  TRY_STMT(s, db, std::string(kMessageColumns) + " WHERE q.queue_id = ?");
  s->bind(1, queue_id);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<QueuedMessage>();
  QueuedMessage m = read_message(*s);
  if (auto r = load_message(db, m, true); !r) return std::unexpected(r.error());
  return std::optional<QueuedMessage>(std::move(m));
}

Result<int> retry_queue(Database& db, const std::optional<std::string>& queue_id) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (queue_id) {
    TRY_STMT(s, db,
             "UPDATE queue_recipients SET next_attempt = ? WHERE state IN ('queued', 'deferred')"
             " AND queue_row = (SELECT id FROM queue WHERE queue_id = ?)");
    s->bind(1, now).bind(2, *queue_id);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
  } else {
    TRY_STMT(s, db,
             "UPDATE queue_recipients SET next_attempt = ? WHERE state IN ('queued', 'deferred')");
    s->bind(1, now);
    if (auto r = s->run(); !r) return std::unexpected(r.error());
  }
  return db.changes();
}

Result<void> delete_queued(Database& db, const std::string& queue_id) {
  TRY_STMT(s, db, "DELETE FROM queue WHERE queue_id = ?");
  s->bind(1, queue_id);
  if (auto r = s->run(); !r) return r;
  if (db.changes() == 0) return fail("no queued message " + queue_id);
  return {};
}

Result<std::vector<QueuedMessage>> due_messages(Database& db, std::int64_t now, int limit) {
  TRY_STMT(s, db,
           std::string(kMessageColumns) +
               " WHERE q.id IN (SELECT queue_row FROM queue_recipients"
               " WHERE state IN ('queued', 'deferred') AND next_attempt <= ?)"
               " ORDER BY q.id LIMIT ?");
  s->bind(1, now).bind(2, limit);
  std::vector<QueuedMessage> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(read_message(*s));
  }
  for (auto& m : out) {
    if (auto r = load_message(db, m, false); !r) return std::unexpected(r.error());
    std::erase_if(m.recipients, [&](const QueuedRecipient& r) { return r.next_attempt > now; });
  }
  return out;
}

std::string_view to_string(RecipientState state) {
  switch (state) {
    case RecipientState::queued:
      return "queued";
    case RecipientState::deferred:
      return "deferred";
    case RecipientState::delivered:
      return "delivered";
    case RecipientState::bounced:
      return "bounced";
  }
  return "deferred";
}

Result<void> record_attempt(Database& db, const AttemptResult& result, std::int64_t now) {
  {
    TRY_STMT(s, db,
             "UPDATE queue_recipients SET state = ?, attempts = attempts + 1, next_attempt = ?,"
             " last_reply = ? WHERE id = ?");
    s->bind(1, to_string(result.state))
        .bind(2, result.next_attempt)
        .bind(3, result.reply)
        .bind(4, result.row);
    if (auto r = s->run(); !r) return r;
    // The row is gone when an admin deleted the message meanwhile: nothing to record.
    if (db.changes() == 0) return {};
  }
  {
    TRY_STMT(
        s, db,
        "INSERT INTO queue_history(recipient_row, at, remote_host, reply) VALUES (?, ?, ?, ?)");
    s->bind(1, result.row).bind(2, now).bind(3, result.remote_host).bind(4, result.reply);
    if (auto r = s->run(); !r) return r;
  }
  // The message leaves the queue once no recipient waits any more.
  TRY_STMT(s, db,
           "DELETE FROM queue WHERE id = (SELECT queue_row FROM queue_recipients WHERE id = ?)"
           " AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE queue_row = queue.id"
           " AND state IN ('queued', 'deferred'))");
  s->bind(1, result.row);
  return s->run();
}

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

Result<BounceStored> store_bounce(Database& db, const Bounce& bounce,
                                  const DomainTest& is_local_domain) {
  using Where = BounceStored::Where;
  auto route = resolve_recipient(db, lower(bounce.to), is_local_domain);
  if (!route) return std::unexpected(route.error());
  if (route->accounts.empty() && route->remote.empty()) return BounceStored{Where::dropped, {}};
  auto stored = store_from_null_sender(db, bounce.message, null_sender_destination(*route));
  if (!stored) return std::unexpected(stored.error());
  if (stored->queue_id.empty()) return BounceStored{Where::mailbox, {}};
  return BounceStored{Where::queue, stored->queue_id};
}

Result<BounceStored> record_attempts(Database& db, const AttemptRecord& record, std::int64_t now,
                                     const DomainTest& is_local_domain) {
  for (const auto& result : record.recipients) {
    if (auto done = record_attempt(db, result, now); !done) return std::unexpected(done.error());
  }
  if (!record.bounce) return BounceStored{};
  return store_bounce(db, *record.bounce, is_local_domain);
}

Result<std::optional<std::int64_t>> next_due(Database& db) {
  TRY_STMT(s, db,
           "SELECT min(next_attempt) FROM queue_recipients WHERE state IN ('queued', 'deferred')");
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (s->column_is_null(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s->column_int(0));
}

Result<void> backup(Database& db, const std::string& file) {
  // error_code forms: the throwing ones would abort the admin command on EACCES.
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return fail(file + " already exists");
  if (ec) return fail("cannot check " + file + ": " + ec.message());
  sqlite3* target = nullptr;
  if (sqlite3_open_v2(file.c_str(), &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string message = target ? sqlite3_errmsg(target) : "out of memory";
    sqlite3_close(target);
    return fail("cannot create " + file + ": " + message);
  }
  // One step copies every page under one read transaction: a consistent snapshot.
  sqlite3_backup* b = sqlite3_backup_init(target, "main", db.handle(), "main");
  int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
  sqlite3_backup_finish(b);
  std::string message = sqlite3_errmsg(target);
  if (rc == SQLITE_DONE) {
    // The copy is a plain rollback-journal file: one file to carry around.
    sqlite3_exec(target, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  sqlite3_close(target);
  if (rc != SQLITE_DONE) {
    std::filesystem::remove(file, ec);
    return fail("backup failed: " + message);
  }
  return {};
}

}  // namespace postroom::store
